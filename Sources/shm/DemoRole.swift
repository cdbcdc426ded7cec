import ArgumentParser
import Foundation
import Interprocess

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
