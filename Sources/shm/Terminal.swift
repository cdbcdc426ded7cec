import ArgumentParser
import Foundation

/// Output of the `shm` commands: whole lines, written straight to the file descriptor.
///
/// Each line is one `write(2)` (no stdio buffer), so lines of several processes sharing a
/// terminal or a pipe reach it as they are produced and never interleave within a line.
enum Terminal {
    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
    }

    /// Writes `shm: message` to standard error.
    static func error(_ message: String) {
        try? FileHandle.standardError.write(contentsOf: Data(("shm: " + message + "\n").utf8))
    }

    /// Reports `message` on standard error and returns the exit code to throw.
    static func failure(_ message: String, code: Int32 = 1) -> ExitCode {
        error(message)
        return ExitCode(code)
    }
}
