import ArgumentParser
import Foundation
import Interprocess
import InterprocessBenchmarkKit

/// `shm demo producer-consumer`: the producer-consumer scenario, with the consumer blocking on a
/// condition instead of polling.
///
/// The tool creates a shared array of integers set to -1, a mutex and a condition under a
/// unique name, then runs the producer and the consumer — by default as two child processes
/// (this executable again, with a private `--role` option), with `--threads` as two threads of
/// this process. The producer writes index *i* after the writing time and notifies; the consumer
/// waits on the condition until index *i* is written. The tool removes the objects when both
/// roles are done, when one fails, and on SIGINT or SIGTERM.
struct ProducerConsumerDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "producer-consumer",
        abstract: "A producer and a consumer sharing an array, a mutex and a condition.",
        discussion: """
            By default the producer and the consumer are two processes; each line names its \
            process. The exit status is 0 only if the consumer received every item in order.
            """
    )

    @Flag(help: "Run the producer and the consumer as two threads of this process.")
    var threads = false

    @Option(help: "Seconds the producer spends writing each item.")
    var writingTime: Double = 0.5

    @Option(help: "The number of items (elements of the shared array).")
    var count: Int = 5

    /// Set by the tool when it starts itself as one of the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: DemoRole?

    /// The objects' base name, passed to the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var objects: String?

    /// Testing aid: the producer kills itself (SIGKILL) while holding the mutex, before
    /// writing this index.
    @Option(help: ArgumentHelp(visibility: .private))
    var producerDiesAt: Int?

    func validate() throws {
        guard writingTime.isFinite, writingTime >= 0, writingTime <= 3600 else {
            throw ValidationError("--writing-time must be between 0 and 3600 seconds.")
        }
        guard count >= 1, count <= 100_000 else { throw ValidationError("--count must be between 1 and 100000.") }
        if role != nil && (objects == nil || threads) {
            throw ValidationError("--role needs --objects and excludes --threads.")
        }
        if producerDiesAt != nil && threads {
            throw ValidationError("--producer-dies-at needs the producer in a process of its own.")
        }
    }

    var settings: DemoSettings {
        DemoSettings(writingTime: writingTime, count: count, producerDiesAt: producerDiesAt)
    }

    func run() throws {
        if let role, let objects {
            // A child started by the tool: it inherits the parent's ignored (and possibly
            // blocked) SIGINT and SIGTERM; restore them so that ^C and the parent's terminate()
            // end it.
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGINT)
            sigaddset(&signals, SIGTERM)
            sigprocmask(SIG_UNBLOCK, &signals, nil)
            do { try role.run(DemoObjects(base: objects), settings) } catch {
                throw Terminal.failure("\(role): \(error)")
            }
            return
        }
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let objects = DemoObjects(base: "demo.\(ProcessIdentity.current.pid).\(random)")
        // Installed first, so that no signal can leave the objects behind.
        let cleanup = InterruptCleanup(objects: objects)
        let held: (SharedArray<Int>, ProcessMutex, ProcessCondition)
        do { held = try objects.create(count: count) } catch { throw Terminal.failure(error.description) }
        defer {
            objects.remove()
            withExtendedLifetime(held) {}
        }

        let start = Deadline.now
        let summary: String
        do {
            summary = threads ? try runThreads(objects) : try runProcesses(objects, cleanup: cleanup)
        } catch let failure as DemoFailure {
            throw Terminal.failure("demo failed: \(failure.reason)")
        }
        let elapsed = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        Terminal.line(summary + String(format: " in %.2f s.", elapsed))
    }

    /// How long the whole demo may take before the tool gives up.
    private var overallTimeout: Double { Double(count) * writingTime + settings.itemTimeout + 10 }

    private func runProcesses(_ objects: DemoObjects, cleanup: InterruptCleanup) throws -> String {
        let executable = ChildProcesses.currentExecutable()
        let exited = DispatchSemaphore(value: 0)
        var started: [Process] = []
        let children = try DemoRole.allCases.map { role in
            let process = Process()
            process.executableURL = executable
            process.arguments =
                [
                    "demo", "producer-consumer", "--role", role.rawValue, "--objects", objects.base,
                    "--writing-time", "\(writingTime)", "--count", "\(count)",
                ] + (producerDiesAt.map { ["--producer-dies-at", "\($0)"] } ?? [])
            // Standard input, output and error are inherited: the children's lines reach the
            // terminal (or the caller's pipe) as they write them.
            process.terminationHandler = { _ in exited.signal() }
            do { try process.run() } catch {
                ChildProcesses.stop(started)
                throw DemoFailure(
                    reason: "could not start the \(role) (\(executable.path)): \(error.localizedDescription)")
            }
            started.append(process)
            cleanup.adopt(process)
            return (role: role, process: process)
        }
        Terminal.line(
            "[pid \(ProcessIdentity.current.pid)] Started producer (pid \(children[0].process.processIdentifier)) "
                + "and consumer (pid \(children[1].process.processIdentifier)) on '\(objects.base)'")

        var failure: String?
        let deadline = DispatchTime.now() + overallTimeout
        for _ in children {
            if exited.wait(timeout: deadline) == .timedOut {
                failure = String(format: "the roles did not finish within %.1f s", overallTimeout)
                break
            }
            // The first child found dead with a failure decides the reason.
            for child in children where !child.process.isRunning {
                if let problem = ChildProcesses.problem(of: child.process) {
                    failure = "the \(child.role) (pid \(child.process.processIdentifier)) \(problem)"
                    break
                }
            }
            if failure != nil { break }
        }
        if let failure {
            // A child killed by the interrupt handler is not the demo's failure: let the
            // handler report the interruption and exit.
            cleanup.parkIfInterrupted()
            ChildProcesses.stop(children.map(\.process))
            throw DemoFailure(reason: failure)
        }
        let pids = children.map { "\($0.process.processIdentifier)" }.joined(separator: " and ")
        return "[pid \(ProcessIdentity.current.pid)] Done: the consumer received all \(count) items in order, "
            + "across processes \(pids),"
    }

    private func runThreads(_ objects: DemoObjects) throws -> String {
        let results = RoleResults()
        let finished = DispatchSemaphore(value: 0)
        let settings = self.settings
        Terminal.line(
            "[pid \(ProcessIdentity.current.pid)] Starting producer and consumer threads on '\(objects.base)'")
        for role in DemoRole.allCases {
            let thread = Thread {
                results.set(role, Result { try role.run(objects, settings) })
                finished.signal()
            }
            thread.name = "\(role)"
            thread.start()
        }
        let deadline = DispatchTime.now() + overallTimeout
        for _ in DemoRole.allCases {
            if finished.wait(timeout: deadline) == .timedOut {
                throw DemoFailure(reason: String(format: "the roles did not finish within %.1f s", overallTimeout))
            }
        }
        for role in DemoRole.allCases {
            if case .failure(let error)? = results.get(role) {
                throw DemoFailure(reason: "the \(role) thread failed: \(error)")
            }
        }
        return "[pid \(ProcessIdentity.current.pid)] Done: the consumer received all \(count) items in order, "
            + "across two threads of one process,"
    }
}

/// A role in the demo.
enum DemoRole: String, CaseIterable, ExpressibleByArgument, CustomStringConvertible, Sendable {
    case producer, consumer

    var description: String { rawValue }

    /// Opens the objects and plays the role to the end.
    /// - Throws: ``SharedMemoryError``, ``ProcessMutexError`` or ``DemoFailure``.
    func run(_ objects: DemoObjects, _ settings: DemoSettings) throws {
        let (data, mutex, condition) = try objects.open()
        switch self {
        case .producer: try produce(data, mutex, condition, settings)
        case .consumer: try consume(data, mutex, condition, settings)
        }
    }

    private func produce(
        _ data: SharedArray<Int>, _ mutex: ProcessMutex, _ condition: ProcessCondition, _ settings: DemoSettings
    ) throws {
        for index in 0..<settings.count {
            Thread.sleep(forTimeInterval: settings.writingTime)
            try mutex.withLock(timeout: .seconds(settings.itemTimeout)) {
                if index == settings.producerDiesAt { kill(getpid(), SIGKILL) }
                data[index] = index
                say("Producer writes index \(index): \(index)")
            }
            condition.notifyAll()
        }
    }

    private func consume(
        _ data: SharedArray<Int>, _ mutex: ProcessMutex, _ condition: ProcessCondition, _ settings: DemoSettings
    ) throws {
        let timeout = Duration.seconds(settings.itemTimeout)
        for index in 0..<settings.count {
            let value = try mutex.withLock(timeout: timeout) {
                // Blocks on the condition (no polling); the producer notifies after each write.
                guard try condition.wait(on: mutex, timeout: timeout, until: { data[index] != -1 }) else {
                    throw DemoFailure(
                        reason: String(
                            format: "no data at index %d after %.1f s (is the producer alive?)", index,
                            settings.itemTimeout))
                }
                let value = data[index]
                say("Consumer consumes index \(index), data: \(value)")
                return value
            }
            guard value == index else {
                throw DemoFailure(reason: "index \(index) holds \(value), expected \(index)")
            }
        }
    }

    private func say(_ text: String) { Terminal.line("[pid \(ProcessIdentity.current.pid)] \(text)") }
}

/// The demo's timings.
struct DemoSettings: Sendable {
    var writingTime: Double
    var count: Int
    var producerDiesAt: Int?

    /// How long the consumer waits for one item (and either role for the mutex) before it
    /// reports an error: ten writing times and five seconds.
    var itemTimeout: Double { 10 * writingTime + 5 }
}

/// The demo's three objects: `BASE.data`, `BASE.lock`, `BASE.cond`.
struct DemoObjects: Sendable {
    let base: String
    var dataName: String { base + ".data" }
    var lockName: String { base + ".lock" }
    var conditionName: String { base + ".cond" }

    /// Creates the objects (failing if any exists) and returns the handles that keep them:
    /// they are removed with their last user, so a demo killed with SIGKILL leaves nothing that
    /// `shm clean` (or the next opener) does not remove. On failure removes those it created.
    func create(count: Int) throws(SharedMemoryError) -> (SharedArray<Int>, ProcessMutex, ProcessCondition) {
        do {
            return (
                try SharedArray<Int>(named: dataName, count: count, initialValue: -1, mode: .create, lifetime: .removedWithLastUser),
                try ProcessMutex(named: lockName, mode: .create, lifetime: .removedWithLastUser),
                try ProcessCondition(named: conditionName, mode: .create, lifetime: .removedWithLastUser)
            )
        } catch {
            remove()
            throw error
        }
    }

    func open() throws(SharedMemoryError) -> (SharedArray<Int>, ProcessMutex, ProcessCondition) {
        (
            try SharedArray<Int>(named: dataName), try ProcessMutex(named: lockName, mode: .open),
            try ProcessCondition(named: conditionName, mode: .open)
        )
    }

    /// Removes whichever of the objects exist.
    func remove() {
        for name in [dataName, lockName, conditionName] { try? SharedMemory.remove(named: name) }
    }
}

/// A failure of the demo, with its one-line reason.
struct DemoFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// On SIGINT or SIGTERM: stops the children, removes the objects and exits with 128 + signal.
final class InterruptCleanup: @unchecked Sendable {
    // @unchecked Sendable: `children` and `interrupted` are guarded by `lock`; `sources` is
    // written only in init.
    private let lock = NSLock()
    private var children: [Process] = []
    private var interrupted = false
    private var sources: [any DispatchSourceSignal] = []

    init(objects: DemoObjects) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                let children = lock.withLock {
                    interrupted = true
                    return self.children
                }
                ChildProcesses.stop(children)
                objects.remove()
                Terminal.error("demo interrupted (signal \(signalNumber)); removed '\(objects.base).*'")
                exit(128 + signalNumber)
            }
            source.resume()
            sources.append(source)
        }
    }

    func adopt(_ process: Process) { lock.withLock { children.append(process) } }

    /// Never returns if a signal arrived: the handler is stopping the children and exits the
    /// process when done.
    func parkIfInterrupted() {
        guard lock.withLock({ interrupted }) else { return }
        while true { Thread.sleep(forTimeInterval: 60) }
    }
}

/// The roles' outcomes in `--threads` mode.
final class RoleResults: @unchecked Sendable {
    // @unchecked Sendable: `results` is guarded by `lock`.
    private let lock = NSLock()
    private var results: [DemoRole: Result<Void, any Error>] = [:]

    func set(_ role: DemoRole, _ result: Result<Void, any Error>) { lock.withLock { results[role] = result } }
    func get(_ role: DemoRole) -> Result<Void, any Error>? { lock.withLock { results[role] } }
}
