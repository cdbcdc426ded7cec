import Glibc
import SystemPackage

/// A process, identified so that a recycled process id is never mistaken for the original.
///
/// The kernel reuses process ids, so a bare pid stored in shared memory may name a different
/// process later. The pair (pid, start time) does not repeat: the start time is the number of
/// clock ticks after boot at which the process started (field 22 of `/proc/PID/stat`), and two
/// processes with the same pid cannot have started at the same tick.
///
/// Limits: pids are those of the PID namespace of the process that reads them; two processes in
/// different PID namespaces do not see each other's identities (the participant table's OFD
/// locks do not have this limit).
public struct ProcessIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The process id.
    public let pid: Int32
    /// Clock ticks after boot at which the process started.
    public let startTime: UInt64

    /// Creates an identity from its parts, as stored in a segment.
    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The calling process.
    public static let current: ProcessIdentity = {
        let pid = system_getpid()
        // /proc/self/stat is always readable by the process itself; an unreadable /proc
        // (not mounted) leaves the start time 0, which `isAlive` then treats as "pid only".
        let start = (try? ProcessIdentity.startTime(of: pid)) ?? 0
        return ProcessIdentity(pid: pid, startTime: start)
    }()

    /// Whether this process is still running (not exited, not a zombie, pid not reused).
    public var isAlive: Bool {
        guard pid > 0 else { return false }
        if system_kill(pid, 0) == -1 && errno == ESRCH { return false }
        guard let status = try? ProcessIdentity.stat(of: pid) else {
            // The process vanished between the two checks, or /proc is unavailable: fall back
            // to the answer kill(2) gave.
            return system_kill(pid, 0) == 0 || errno == EPERM
        }
        if status.state == "Z" || status.state == "X" { return false }
        return startTime == 0 || status.startTime == startTime
    }

    public var description: String { "pid \(pid) (started at tick \(startTime))" }

    /// The start time of `pid` in clock ticks after boot.
    static func startTime(of pid: Int32) throws(Errno) -> UInt64 {
        try stat(of: pid).startTime
    }

    /// The state letter and start time parsed from `/proc/PID/stat`.
    static func stat(of pid: Int32) throws(Errno) -> (state: Character, startTime: UInt64) {
        let bytes = try ProcFile.read("/proc/\(pid)/stat")
        // The command name (field 2) is in parentheses and may itself contain spaces and
        // parentheses, so parse from the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { throw .ioError }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
        guard fields.count > 19, let state = fields[0].first,
            let start = UInt64(String(decoding: fields[19], as: UTF8.self))
        else { throw .ioError }
        return (Character(Unicode.Scalar(state)), start)
    }
}

/// Reading small kernel-generated text files (`/proc`, `/sys`).
enum ProcFile {
    /// The whole content of a small file.
    static func read(_ path: String, limit: Int = 64 * 1024) throws(Errno) -> [UInt8] {
        let fd = try retryingOnInterrupt { system_open(path, O_RDONLY | O_CLOEXEC, 0) }.get()
        defer { _ = system_close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = try chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { system_read(fd, buffer.baseAddress!, buffer.count) }
            }.get()
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// The content of a small text file, without its trailing newline, or `nil` if unreadable.
    static func text(_ path: String) -> String? {
        guard let bytes = try? read(path) else { return nil }
        var s = String(decoding: bytes, as: UTF8.self)
        while s.last == "\n" { s.removeLast() }
        return s
    }
}
