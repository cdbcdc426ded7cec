import Foundation
import Glibc
import Interprocess

// The pieces `shm bench` shares between its workloads: the clock, the message types,
// percentiles, the machine description, the child process and its control pipe, cleanup.

/// Nanoseconds on `CLOCK_MONOTONIC` (read directly: the timed loops read it once per reply).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The 64-byte message of the throughput workload; the sequence number is its first 8 bytes.
struct Message64: BitwiseCopyable, Equatable {
    var sequence: UInt64 = 0
    var word1: UInt64 = 0
    var word2: UInt64 = 0
    var word3: UInt64 = 0
    var word4: UInt64 = 0
    var word5: UInt64 = 0
    var word6: UInt64 = 0
    var word7: UInt64 = 0
}

/// Why a bench workload failed, in one sentence.
struct BenchFailure: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}

/// Sequence numbers with a special meaning.
enum BenchMarker {
    /// The end of a round-trip run or of a stream (`word1` of the end message carries the count
    /// sent).
    static let end = UInt64.max
    /// The first message of a stream that is timed (64-byte messages).
    static let firstTimed64: UInt64 = 2000
    /// The first message of a stream that is timed (1 MiB messages).
    static let firstTimed1M: UInt64 = 16
}

/// Round-trip latency percentiles (nearest rank).
struct LatencySummary: Codable {
    var n: Int
    var p50_ns: UInt64
    var p99_ns: UInt64
    var p999_ns: UInt64

    /// Sorts `samples` and picks `sorted[ceil(p·n) − 1]` for p = 0.5, 0.99, 0.999.
    init(samples: inout [UInt64]) {
        samples.sort()
        n = samples.count
        func rank(_ perMille: Int) -> UInt64 {
            guard !samples.isEmpty else { return 0 }
            // ceil(n · p) in integers, so 0.999 · n is not rounded the wrong way.
            let r = (samples.count * perMille + 999) / 1000
            return samples[max(1, r) - 1]
        }
        p50_ns = rank(500)
        p99_ns = rank(990)
        p999_ns = rank(999)
    }
}

/// The machine the bench ran on.
struct MachineDescription: Codable {
    var cpu: String
    var onlineCPUs: Int
    var availableCPUs: Int
    var kernel: String
    var build: String
    var pinned: Bool
    /// `/proc/loadavg`'s 1-, 5- and 15-minute load averages when the run started: spinning
    /// figures mean little when other work competes for the two pinned cores.
    var loadAverage: String

    static func current() -> MachineDescription {
        var model = "unknown CPU"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return MachineDescription(
            cpu: model, onlineCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), availableCPUs: CPU.availableCount,
            kernel: "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))", build: build,
            pinned: CPU.availableCount >= 2, loadAverage: loadAverage())
    }

    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    var line: String {
        "\(cpu), \(availableCPUs) of \(onlineCPUs) CPUs usable, \(kernel), \(build) build"
            + (pinned ? ", sender/ping on core 0, receiver/pong on core 1" : ", not pinned (one CPU)")
            + ", load average \(loadAverage) at start"
    }
}

/// Pins the calling thread to `core`.
///
/// Only the parent decides whether to pin (when it may use at least two CPUs) and tells the
/// child which core to take: a child inherits the parent's affinity, which is core 0 alone once
/// the parent has pinned itself, so a child that counted its own usable CPUs would see one
/// and stay on core 0 with the parent.
func pinForBench(core: Int) {
    do { try CPU.pinCurrentThread(to: core) } catch {
        Terminal.error("bench: could not pin to core \(core): \(error)")
    }
}

/// The CPU the calling thread last ran on: field 39 of `/proc/thread-self/stat` (Glibc's
/// `sched_getcpu` needs `_GNU_SOURCE`, which the Swift overlay does not define).
func currentCPU() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    // After the command name in parentheses come fields 3, 4, …; the processor is field 39.
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 36 ? Int(fields[36]) : nil
}

// MARK: - Plain file descriptors (pipe and socket baselines)

/// Writes all of `count` bytes at `buffer`, retrying partial writes and EINTR.
@inline(__always)
func writeFully(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws {
    var done = 0
    while done < count {
        let n = Glibc.write(fd, buffer + done, count - done)
        if n > 0 {
            done += n
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            throw BenchFailure("write failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// Reads exactly `count` bytes into `buffer`; returns `false` at end of file before any byte.
@inline(__always)
func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws -> Bool {
    var done = 0
    while done < count {
        let n = Glibc.read(fd, buffer + done, count - done)
        if n > 0 {
            done += n
        } else if n == 0 {
            if done == 0 { return false }
            throw BenchFailure("end of file inside a message")
        } else if errno != EINTR {
            throw BenchFailure("read failed: \(String(cString: strerror(errno)))")
        }
    }
    return true
}

/// A page-aligned, pre-faulted buffer (a non-zero write into every page, so page faults never
/// land in a timed loop).
func prefaultedBuffer(_ size: Int) -> UnsafeMutableRawBufferPointer {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
    for i in stride(from: 0, to: size, by: 1) { buffer[i] = UInt8(truncatingIfNeeded: i | 1) }
    return buffer
}

// MARK: - The child process

/// What the parent removes when a run ends, fails or is interrupted.
final class BenchCleanup: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    static let shared = BenchCleanup()
    private let lock = NSLock()
    private var segments: Set<String> = []
    private var paths: Set<String> = []
    private var children: [Process] = []
    private var aborting = false

    func addSegment(_ name: String) { lock.withLock { _ = segments.insert(name) } }
    func addPath(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    func adopt(_ child: Process) { lock.withLock { children.append(child) } }

    /// Removes everything registered so far (and forgets it).
    func run(stopChildren: Bool = false) {
        let (segments, paths, children) = lock.withLock {
            defer {
                self.segments = []
                self.paths = []
                if stopChildren { self.children = [] }
            }
            return (self.segments, self.paths, self.children)
        }
        if stopChildren { ProducerConsumerDemo.stop(children) }
        for name in segments { try? SharedMemory.remove(named: name) }
        for path in paths { unlink(path) }
    }

    /// Stops the children, removes everything and exits with `code` after `message`.
    func abort(_ message: String, code: Int32 = 1) -> Never {
        // Only the first abort reports and exits (stopping the children runs their
        // termination handlers, which would abort again).
        if lock.withLock({ defer { aborting = true }; return aborting }) {
            while true { sleep(60) }
        }
        Terminal.error(message)
        run(stopChildren: true)
        exit(code)
    }

    private var sources: [any DispatchSourceSignal] = []

    /// On SIGINT or SIGTERM: clean up and exit with 128 + signal.
    func installSignalHandlers() {
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

    /// Starts `shm bench --role child …`; `input` becomes the child's standard input (the
    /// socket baseline passes its end of the socket pair that way).
    init(arguments: [String], input: FileHandle?, timeout: Double) throws {
        expectedCore = arguments.firstIndex(of: "--child-core").flatMap {
            arguments.indices.contains($0 + 1) ? Int(arguments[$0 + 1]) : nil
        }
        process.executableURL = ProducerConsumerDemo.executableURL()
        process.arguments = ["bench", "--role", "child"] + arguments
        process.standardOutput = output
        process.standardInput = input ?? FileHandle.nullDevice
        // Standard error is inherited: a failing child's message reaches the user directly.
        let description = arguments.joined(separator: " ")
        process.terminationHandler = { process in
            if let problem = ProducerConsumerDemo.problem(of: process) {
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
        if let problem = ProducerConsumerDemo.problem(of: process) { throw BenchFailure("the child \(problem)") }
    }
}

/// Written by the child on its standard output (one `write(2)` per line).
enum ChildReport {
    /// `ready cpu=N`: the end is open, and the CPU the child runs on (it checks the pinning).
    static func ready() { Terminal.line("ready cpu=\(currentCPU().map(String.init) ?? "?")") }
    static func result(_ values: KeyValuePairs<String, UInt64>) {
        Terminal.line("result " + values.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
