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
                    "--writing-time", "\(writingTime)", "--count", "\(count)"
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
