import Glibc
import Interprocess

/// A victim process: this executable started again in a hidden role, with its stdout on a pipe.
///
/// The parent reads the victim's progress lines with a deadline (`poll`), never sleeping to wait
/// for it; a victim that says nothing before the deadline is a hang, which the run reports as a
/// failure. Every child is killed and reaped before the parent exits.
final class Child {
    let pid: pid_t
    let role: String
    private let output: Int32
    private var pending: [UInt8] = []
    private var endOfOutput = false
    private(set) var lines: [String] = []
    private(set) var exitStatus: Int32? = nil

    /// Every child not reaped yet, so that a failing run leaves no process behind.
    nonisolated(unsafe) static var running: [pid_t: Child] = [:]

    static let executable: String = {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(n > 0, "readlink(/proc/self/exe) failed")
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    init(_ role: String, _ arguments: [String]) {
        self.role = role
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
        // Close-on-exec, so that other victims do not inherit this one's pipe.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        // dup2 clears close-on-exec on stdout; the pipe's own descriptors stay close-on-exec.
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO)
        let argv = ([Child.executable, "victim-" + role] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, Child.executable, &actions, nil, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(fds[1])
        precondition(rc == 0, "posix_spawn failed: \(rc)")
        self.pid = pid
        self.output = fds[0]
        Child.running[pid] = self
    }

    deinit { close(output) }

    /// Reads lines until one starting with one of `words`; `nil` if the deadline passes or the
    /// output ends first (the lines read so far are in ``lines``).
    func waitFor(_ words: Set<String>, timeout: Duration = .seconds(30)) -> String? {
        let deadline = Deadline(timeout: timeout)
        while true {
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                lines.append(line)
                let first = String(line.split(separator: " ", maxSplits: 1).first ?? "")
                if words.contains(first) { return line }
            }
            if endOfOutput { return nil }
            guard let remaining = deadline.remaining, remaining > .zero else { return nil }
            let (s, atto) = remaining.components
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let rc = poll(&descriptor, 1, Int32(clamping: s * 1000 + atto / 1_000_000_000_000_000 + 1))
            if rc < 0 && errno == EINTR { continue }
            if rc <= 0 { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
            } else if n == 0 || errno != EINTR {
                endOfOutput = true
            }
        }
    }

    /// Sends SIGKILL and reaps the child.
    func kill() {
        if exitStatus == nil { Glibc.kill(pid, SIGKILL) }
        reap()
    }

    /// Waits for the child to end (it has been killed or said its last line).
    @discardableResult
    func reap() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = status
        Child.running[pid] = nil
        return status
    }

    /// Whether the child was ended by SIGKILL (as opposed to exiting).
    var wasKilled: Bool { (exitStatus ?? 0) & 0x7f == SIGKILL }

    /// Kills and reaps every child still running.
    static func killAll() {
        for child in running.values { child.kill() }
    }
}
