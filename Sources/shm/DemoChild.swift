import Foundation
import InterprocessBenchmarkKit

/// A role of a multi-process demo, started as a child process of the tool: `shm` itself with
/// the role's arguments, its output forwarded line by line as it comes (the tool waits for some
/// of the lines).
final class DemoChild: @unchecked Sendable {
    // @unchecked: `process` and `output` are set up once in init; the readability handler only
    // reads `buffer`, which locks.
    let label: String
    let process = Process()
    private let output = Pipe()
    private let buffer = LineBuffer()

    /// Starts `shm ARGUMENTS`, forwarding each line it writes to `lines`.
    /// - Throws: ``DemoFailure`` if it could not be started.
    init(_ label: String, arguments: [String], lines: @escaping @Sendable (String) -> Void) throws {
        self.label = label
        process.executableURL = ChildProcesses.currentExecutable()
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        let buffer = self.buffer
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            for line in buffer.append(data) { lines(line) }
        }
        do { try process.run() } catch {
            throw DemoFailure(reason: "could not start \(label): \(error.localizedDescription)")
        }
        BenchCleanup.shared.adopt(process)
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for the child to end (until `deadline`) and checks it ended well.
    /// - Throws: ``DemoFailure`` if it did not end in time or failed.
    func finish(by deadline: Date) throws {
        while process.isRunning {
            guard Date() < deadline else { throw DemoFailure(reason: "\(label) did not finish in time") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        if let problem = ChildProcesses.problem(of: process) {
            throw DemoFailure(reason: "\(label) (pid \(pid)) \(problem)")
        }
    }

    /// Stops forwarding (the lines written so far were forwarded).
    func stopForwarding() { output.fileHandleForReading.readabilityHandler = nil }
}

/// Splits a stream of bytes into lines.
final class LineBuffer: @unchecked Sendable {
    // @unchecked: `pending` is only touched while holding `lock`.
    private let lock = NSLock()
    private var pending = Data()

    func append(_ data: Data) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        pending.append(data)
        var lines: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...newline)
        }
        return lines
    }
}
