import Foundation

/// The harness's output: whole lines, each one `write(2)` (no stdio buffer), so the child's
/// report lines reach the parent's pipe as they are produced and never interleave.
enum BenchOutput {
    /// The name error lines start with: this executable's (`shm: …`).
    static let program = URL(fileURLWithPath: CommandLine.arguments.first ?? "bench").lastPathComponent

    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
    }

    /// Writes `PROGRAM: message` to standard error.
    static func error(_ message: String) {
        try? FileHandle.standardError.write(contentsOf: Data((program + ": " + message + "\n").utf8))
    }
}
