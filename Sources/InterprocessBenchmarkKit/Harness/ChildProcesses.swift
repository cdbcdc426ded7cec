import Foundation
import Glibc
import Interprocess

/// Child processes that run this executable again: how to find it, how a child ended, how to
/// stop children. The bench harness and `shm`'s demos start their children this way.
package enum ChildProcesses {
    /// This executable, to start it again in another role.
    package static func currentExecutable() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }

    /// Ends `processes`: SIGTERM, then SIGKILL for those still running after a second (a child
    /// that has not yet restored SIGTERM's default action ignores it), and reaps them.
    package static func stop(_ processes: [Process]) {
        for process in processes where process.isRunning { process.terminate() }
        let grace = Deadline.after(.seconds(1))
        while processes.contains(where: \.isRunning) && !grace.hasPassed { Thread.sleep(forTimeInterval: 0.01) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for process in processes { process.waitUntilExit() }
    }

    /// Why a child failed, or `nil` if it exited with status 0.
    package static func problem(of process: Process) -> String? {
        switch process.terminationReason {
        case .exit:
            return process.terminationStatus == 0 ? nil : "exited with status \(process.terminationStatus)"
        case .uncaughtSignal:
            let signal = process.terminationStatus
            return "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        @unknown default:
            return "ended (\(process.terminationStatus))"
        }
    }
}
