import Foundation
import Glibc
import Interprocess

/// A running `InterprocessTestPeer` child process, driven through its stdin and stdout.
///
/// A peer reports progress as lines on stdout (see `Sources/InterprocessTestPeer/main.swift`);
/// ``waitFor(_:timeout:)`` reads them until the expected one, so a test waits exactly as long
/// as the child needs and never sleeps. Every wait has a deadline: a child that hangs fails
/// the test instead of hanging the suite.
///
/// The child's stdin is a pipe whose write end only this object holds: roles that hold a
/// resource until killed block on it, and exit when the test process goes away. A peer still
/// running when the object is released is killed with `SIGKILL` and reaped.
final class Peer: CustomStringConvertible {
    /// How a peer ended.
    enum Exit: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case let .exited(status): "exited with status \(status)"
            case let .signaled(signal): "killed by signal \(signal)"
            }
        }
    }

    /// A peer did not do what the test expected.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let role: String
    let arguments: [String]
    private let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let terminated = DispatchSemaphore(value: 0)
    private var pending: [UInt8] = []
    private var reachedEndOfOutput = false
    private var exitStatus: Exit?
    /// Every stdout line read so far, for failure messages.
    private(set) var lines: [String] = []

    /// Starts `InterprocessTestPeer ROLE ARGUMENTS…`.
    convenience init(_ role: String, _ arguments: String...) throws {
        try self.init(role, arguments: arguments)
    }

    /// Starts `InterprocessTestPeer ROLE ARGUMENTS…` (`role` may be a peer option such as
    /// `--shm-directory=DIR`, with the role first among `arguments`), with `standardInput` as its
    /// stdin instead of a pipe (a socket to pass descriptors over, say) and `environment` added
    /// to ours.
    init(
        _ role: String, arguments: [String], standardInput: FileHandle? = nil, environment: [String: String] = [:]
    ) throws {
        self.role = role
        self.arguments = arguments
        process.executableURL = try Peer.executableURL()
        process.arguments = [role] + arguments
        process.standardInput = standardInput ?? stdinPipe
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let terminated = self.terminated
        process.terminationHandler = { _ in terminated.signal() }
        try process.run()
    }

    deinit {
        if exitStatus == nil {
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            _ = terminated.wait(timeout: .now() + 10)
        }
        try? stdinPipe.fileHandleForWriting.close()
    }

    /// The child's process id.
    var pid: Int32 { process.processIdentifier }

    var description: String {
        "peer '\(([role] + arguments).joined(separator: " "))' (pid \(pid))"
    }

    // MARK: - Finding the executable

    /// The `InterprocessTestPeer` built next to the test bundle.
    ///
    /// On Linux, SwiftPM builds every product of the package, the peer included (the test
    /// target depends on it), into one directory, and runs the tests from an executable there
    /// (`<PackageName>PackageTests.xctest`), so the directory of `/proc/self/exe` is the place
    /// to look. `Bundle.main` and `argv[0]` are fallbacks for other runners, and
    /// `INTERPROCESS_TEST_PEER` overrides them all.
    static func executableURL() throws -> URL {
        if let override = ProcessInfo.processInfo.environment["INTERPROCESS_TEST_PEER"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        var directories: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        directories.append(Bundle.main.bundleURL)
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        if let first = CommandLine.arguments.first {
            directories.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for directory in directories {
            let candidate = directory.appendingPathComponent("InterprocessTestPeer")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Failure(
            description: "InterprocessTestPeer not found in \(directories.map(\.path)); build with "
                + "`swift build --build-tests` or set INTERPROCESS_TEST_PEER")
    }

    // MARK: - Reading lines

    /// Reads lines until one whose first word is `word`, and returns that line.
    ///
    /// - Throws: ``Failure`` when the peer reports an error, ends its output, or says nothing
    ///   of the kind before `timeout`.
    @discardableResult
    func waitFor(_ word: String, timeout: Duration = .seconds(30)) throws -> String {
        try waitFor([word], timeout: timeout)
    }

    /// Reads lines until one whose first word is one of `words`, and returns that line.
    @discardableResult
    func waitFor(_ words: Set<String>, timeout: Duration = .seconds(30)) throws -> String {
        let deadline = Deadline(timeout: timeout)
        while true {
            guard let line = try nextLine(deadline: deadline, waitingFor: words) else {
                throw failure("ended its output before saying \(words.sorted())")
            }
            let first = Peer.firstWord(of: line)
            if words.contains(first) { return line }
            if first == "error" { throw failure("reported '\(line)' while expected to say \(words.sorted())") }
        }
    }

    /// The next line of any of `peers` whose first word is `word`: the peer that said it first
    /// and the line. Lines already read and not matching are skipped.
    static func first(
        of peers: [Peer], saying word: String, timeout: Duration = .seconds(30)
    ) throws -> (Peer, String) {
        let deadline = Deadline(timeout: timeout)
        while true {
            for peer in peers {
                while let line = peer.takeBufferedLine() {
                    let first = firstWord(of: line)
                    if first == word { return (peer, line) }
                    if first == "error" { throw peer.failure("reported '\(line)' while expected to say '\(word)'") }
                }
            }
            let open = peers.filter { !$0.reachedEndOfOutput }
            guard !open.isEmpty else {
                throw Failure(description: "no peer said '\(word)': \(peers.map { $0.lines })")
            }
            var descriptors = open.map {
                pollfd(fd: $0.stdoutPipe.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            }
            let ready = try poll(&descriptors, deadline: deadline) {
                Failure(description: "no peer said '\(word)' in time; lines so far: \(peers.map { $0.lines })")
            }
            if ready { for (peer, entry) in zip(open, descriptors) where entry.revents != 0 { peer.readAvailable() } }
        }
    }

    /// The word a peer's line starts with: its progress or result ("signaled 3" → "signaled").
    private static func firstWord(of line: String) -> String {
        line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
    }

    /// The next stdout line, or `nil` at end of output.
    private func nextLine(deadline: Deadline, waitingFor words: Set<String>) throws -> String? {
        while true {
            if let line = takeBufferedLine() { return line }
            if reachedEndOfOutput { return nil }
            var descriptor = [
                pollfd(fd: stdoutPipe.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            ]
            if try Peer.poll(
                &descriptor, deadline: deadline, onTimeout: { failure("did not say \(words.sorted()) in time") })
            {
                readAvailable()
            }
        }
    }

    /// `poll(2)` until `deadline`; `true` when a descriptor is ready, `false` after `EINTR`.
    private static func poll(
        _ descriptors: inout [pollfd], deadline: Deadline, onTimeout: () -> Failure
    ) throws -> Bool {
        guard let remaining = deadline.remaining, remaining > .zero else { throw onTimeout() }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
        let rc = Glibc.poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        if rc < 0 {
            if errno == EINTR { return false }
            throw Failure(description: "poll failed: errno \(errno)")
        }
        if rc == 0 { throw onTimeout() }
        return true
    }

    /// One `read` of whatever stdout holds (the descriptor is known to be readable).
    private func readAvailable() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes {
            read(stdoutPipe.fileHandleForReading.fileDescriptor, $0.baseAddress, $0.count)
        }
        if n > 0 {
            pending.append(contentsOf: chunk[0..<n])
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            reachedEndOfOutput = true
        }
    }

    private func takeBufferedLine() -> String? {
        if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            lines.append(line)
            return line
        }
        if reachedEndOfOutput && !pending.isEmpty {
            let line = String(decoding: pending, as: UTF8.self)
            pending.removeAll()
            lines.append(line)
            return line
        }
        return nil
    }

    // MARK: - Ending

    /// Writes `line` and a newline to the child's stdin (a go-ahead for roles that wait for one).
    func tell(_ line: String) throws {
        try stdinPipe.fileHandleForWriting.write(contentsOf: Array((line + "\n").utf8))
    }

    /// Sends `signal` to the child.
    func send(_ signal: Int32) {
        if exitStatus == nil { Glibc.kill(pid, signal) }
    }

    /// Waits for the child to end and returns how it ended.
    ///
    /// - Throws: ``Failure`` if it is still running after `timeout` (it is then killed).
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) throws -> Exit {
        if let exitStatus { return exitStatus }
        let (seconds, attoseconds) = timeout.components
        let waitTime = DispatchTimeInterval.milliseconds(Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        if terminated.wait(timeout: .now() + waitTime) == .timedOut {
            Glibc.kill(pid, SIGKILL)
            _ = terminated.wait(timeout: .now() + 10)
            exitStatus = .signaled(SIGKILL)
            throw failure("still running after \(timeout); killed it")
        }
        let status: Exit =
            process.terminationReason == .uncaughtSignal
            ? .signaled(process.terminationStatus) : .exited(process.terminationStatus)
        exitStatus = status
        return status
    }

    /// What the child wrote on stderr (complete once it has exited).
    var standardError: String {
        let fd = stderrPipe.fileHandleForReading.fileDescriptor
        // Non-blocking: another child may have inherited the write end, so end-of-file is not
        // guaranteed; what this child wrote before exiting is in the pipe already.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func failure(_ what: String) -> Failure {
        Failure(description: "\(self) \(what); stdout so far: \(lines); stderr: \(standardError)")
    }
}
