import Foundation
import InterprocessBenchmarkKit

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
