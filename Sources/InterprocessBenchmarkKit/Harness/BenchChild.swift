import Foundation
import Glibc
import Interprocess

/// What the parent removes when a run ends, fails or is interrupted: segments, paths and the
/// children it started (`shm demo channel` uses it too).
package final class BenchCleanup: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    package static let shared = BenchCleanup()
    private let lock = NSLock()
    private var segments: Set<String> = []
    private var paths: Set<String> = []
    private var children: [Process] = []
    private var aborting = false

    package func addSegment(_ name: String) { lock.withLock { _ = segments.insert(name) } }
    package func addPath(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    package func adopt(_ child: Process) { lock.withLock { children.append(child) } }

    /// Removes everything registered so far (and forgets it).
    package func run(stopChildren: Bool = false) {
        let (segments, paths, children) = lock.withLock {
            defer {
                self.segments = []
                self.paths = []
                if stopChildren { self.children = [] }
            }
            return (self.segments, self.paths, self.children)
        }
        if stopChildren { ChildProcesses.stop(children) }
        for name in segments { try? SharedMemory.remove(named: name) }
        for path in paths { unlink(path) }
    }

    /// Stops the children, removes everything and exits with `code` after `message`.
    package func abort(_ message: String, code: Int32 = 1) -> Never {
        // Only the first abort reports and exits (stopping the children runs their
        // termination handlers, which would abort again).
        if lock.withLock({
            defer { aborting = true }
            return aborting
        }) {
            while true { sleep(60) }
        }
        BenchOutput.error(message)
        run(stopChildren: true)
        exit(code)
    }

    private var sources: [any DispatchSourceSignal] = []

    /// On SIGINT or SIGTERM: clean up and exit with 128 + signal.
    package func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                abort("interrupted (signal \(signalNumber)); removed the objects it created", code: 128 + signalNumber)
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }
}

/// The child (pong / receiver) process of one workload, and the pipe on which it reports.
///
/// The child writes `ready` on its standard output once it has opened its end, and (for a
/// stream) one `result key=value…` line at the end.
final class BenchChild {
    let process = Process()
    private let output = Pipe()
    private var buffer: [UInt8] = []
    private var watchdog: DispatchWorkItem?
    /// The core the child was told to pin itself to, checked against where it says it runs.
    private let expectedCore: Int?

    /// Starts `command` with `arguments` after its own; `input` becomes the child's standard
    /// input (the socket baseline passes its end of the socket pair that way).
    init(_ command: BenchHarness.ChildCommand, arguments: [String], input: FileHandle?, timeout: Double) throws {
        expectedCore = arguments.firstIndex(of: "--child-core").flatMap {
            arguments.indices.contains($0 + 1) ? Int(arguments[$0 + 1]) : nil
        }
        process.executableURL = command.executable
        process.arguments = command.arguments + arguments
        process.standardOutput = output
        process.standardInput = input ?? FileHandle.nullDevice
        // Standard error is inherited: a failing child's message reaches the user directly.
        let description = arguments.joined(separator: " ")
        process.terminationHandler = { process in
            if let problem = ChildProcesses.problem(of: process) {
                BenchCleanup.shared.abort("bench: the child (\(description)) \(problem)")
            }
        }
        try process.run()
        BenchCleanup.shared.adopt(process)
        // A workload whose peer hangs would otherwise spin forever.
        let watchdog = DispatchWorkItem {
            BenchCleanup.shared.abort(String(format: "bench: \(description) did not finish within %.0f s", timeout))
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        self.watchdog = watchdog
    }

    /// The child's next line (without the newline); fails at end of file.
    func readLine() throws -> String {
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 512)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, 512) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchFailure("the child ended without reporting") }
            buffer += chunk[..<n]
        }
    }

    /// Waits for the child's `ready cpu=N` line and checks that it runs on its own core.
    func waitUntilReady() throws {
        let line = try readLine()
        guard line.hasPrefix("ready") else { throw BenchFailure("the child said '\(line)' instead of 'ready'") }
        let cpu = line.split(separator: "=").last.flatMap { Int($0) }
        if let expectedCore, cpu != expectedCore {
            throw BenchFailure("the child runs on CPU \(cpu.map(String.init) ?? "?"), not core \(expectedCore)")
        }
    }

    /// Reads the child's `result k=v …` line.
    func readResult() throws -> [String: UInt64] {
        let line = try readLine()
        guard line.hasPrefix("result") else { throw BenchFailure("the child said '\(line)' instead of a result") }
        var values: [String: UInt64] = [:]
        for pair in line.split(separator: " ").dropFirst() {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }

    /// Waits for the child to exit with status 0.
    func finish() throws {
        process.waitUntilExit()
        watchdog?.cancel()
        if let problem = ChildProcesses.problem(of: process) { throw BenchFailure("the child \(problem)") }
    }
}

/// Written by the child on its standard output (one `write(2)` per line).
enum ChildReport {
    /// `ready cpu=N`: the end is open, and the CPU the child runs on (it checks the pinning).
    static func ready() { BenchOutput.line("ready cpu=\(currentCPU().map(String.init) ?? "?")") }
    static func result(_ values: KeyValuePairs<String, UInt64>) {
        BenchOutput.line("result " + values.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
