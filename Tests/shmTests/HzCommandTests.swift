import Foundation
import Interprocess
import Synchronization
import Testing

/// `shm hz`: live rates of channels and topics, observed without taking part.
@Suite struct HzCommandTests {
    /// A thread that runs `body` until `stop` is set.
    final class Worker: @unchecked Sendable {
        // @unchecked Sendable: `stop` is atomic; `done` is a semaphore.
        let stop = Atomic<Bool>(false)
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)

        init(_ body: @escaping @Sendable (Worker) throws -> Void) {
            let thread = Thread { [self] in
                do { try body(self) } catch { Issue.record("worker: \(error)") }
                done.signal()
            }
            thread.start()
        }

        var shouldStop: Bool { stop.load(ordering: .relaxed) }

        func finish() {
            stop.store(true, ordering: .relaxed)
            done.wait()
        }
    }

    @Test func hzReportsATopicsRatesWithoutJoiningIt() throws {
        let name = ShmTool.uniqueName("hztopic")
        defer { try? SharedMemory.remove(named: name) }
        let configuration = TopicConfiguration(
            capacity: 64, maximumSubscribers: 2, maximumPublishers: 2, overflow: .dropOldest)
        let worker = Worker { worker in
            var publisher = try TopicPublisher<UInt64>(named: name, configuration: configuration, mode: .create)
            var subscriber = try TopicSubscriber<UInt64>(named: name)
            worker.started.signal()
            var i: UInt64 = 0
            while !worker.shouldStop {
                for _ in 0..<20 {
                    try publisher.publish(i)
                    i += 1
                }
                while try subscriber.tryReceive() != nil {}
                usleep(500)
            }
            subscriber.close()
            publisher.close()
        }
        worker.started.wait()

        let run = try ShmTool.run(["hz", name, "--count", "3", "--interval", "0.2", "--json"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdoutLines.count == 3, "\(run)")
        for line in run.stdoutLines {
            let report = try ShmTool.jsonResult(line, of: "hz")
            #expect(report["kind"] as? String == "topic")
            #expect(report["unit"] as? String == "messages")
            #expect(report["sent"] is NSNull)
            #expect((report["published"] as? Double ?? 0) > 0, "\(line)")
            let publishers = try #require(report["publishers"] as? [[String: Any]])
            #expect(publishers.compactMap { $0["slot"] as? Int } == [0], "\(line)")
            #expect((publishers.first?["total"] as? Int ?? 0) > 0, "\(line)")
            let subscribers = try #require(report["subscribers"] as? [[String: Any]])
            #expect(subscribers.compactMap { $0["slot"] as? Int } == [0], "\(line)")
            #expect((subscribers.first?["rate"] as? Double ?? 0) > 0, "\(line)")
        }

        let text = try ShmTool.run(["hz", name, "--count", "1", "--interval", "0.1"])
        #expect(text.status == 0, "\(text)")
        #expect(
            text.stdoutLines.first?.hasPrefix("topic (drop-oldest, 2 publishers, 2 subscribers)") == true, "\(text)")
        #expect(text.stdoutLines.count == 2 && text.stdoutLines[1].contains("published "), "\(text)")
        #expect(text.stdoutLines.last?.contains("sub 0: ") == true, "\(text)")

        // It took part in nothing: no subscriber joined or left but ours (the membership word
        // moves on every join and leave), no second publisher slot was ever opened.
        let info = try SharedObjectRegistry.inspect(named: name)
        let topic = try #require(info.topic)
        #expect(topic.publishers.map(\.slot) == [0])
        #expect(topic.subscribers.map(\.slot) == [0])
        let membership = try Data(contentsOf: URL(fileURLWithPath: info.path))[
            SharedObjectInfo.payloadOffset..<SharedObjectInfo.payloadOffset + 8]
        #expect(membership.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == 1)
        worker.finish()
    }

    @Test func hzReportsAChannelsRatesReadOnly() throws {
        let name = ShmTool.uniqueName("hzchannel")
        defer { try? SharedMemory.remove(named: name) }
        let worker = Worker { worker in
            var sender = try ChannelSender<UInt64>(named: name, capacity: 64, mode: .create)
            var receiver = try ChannelReceiver<UInt64>(named: name)
            worker.started.signal()
            var i: UInt64 = 0
            while !worker.shouldStop {
                for _ in 0..<20 {
                    _ = try sender.trySend(i)
                    i += 1
                }
                while try receiver.tryReceive() != nil {}
                usleep(500)
            }
            sender.close()
            receiver.close()
        }
        worker.started.wait()
        // Read-only for everyone: an observer needs no more.
        let path = try SharedObjectRegistry.inspect(named: name).path
        #expect(chmod(path, 0o400) == 0)

        let run = try ShmTool.run(["hz", name, "--count", "2", "--interval", "0.2", "--json"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdoutLines.count == 2, "\(run)")
        for line in run.stdoutLines {
            let report = try ShmTool.jsonResult(line, of: "hz")
            #expect(report["kind"] as? String == "channel")
            #expect((report["sent"] as? Double ?? 0) > 0, "\(line)")
            #expect((report["received"] as? Double ?? 0) > 0, "\(line)")
            #expect(report["depth"] is Int, "\(line)")
            #expect(report["publishers"] is NSNull)
        }
        let text = try ShmTool.run(["hz", name, "--count", "1", "--interval", "0.1"])
        #expect(text.stdoutLines.last?.contains("received ") == true, "\(text)")
        let channel = try #require(try SharedObjectRegistry.inspect(named: name).channel)
        #expect(channel.openSenders == 1 && channel.openReceivers == 1)
        worker.finish()
    }

    @Test func hzRunsUntilInterrupted() throws {
        let name = ShmTool.uniqueName("hzint")
        defer { try? SharedMemory.remove(named: name) }
        let sender = try ChannelSender<UInt8>(named: name, capacity: 8, mode: .create)
        let process = Process()
        process.executableURL = ShmTool.executable
        process.arguments = ["hz", name, "--interval", "0.05"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The banner and at least one report, then ^C.
        var seen = Data()
        let deadline = Date().addingTimeInterval(30)
        while seen.split(separator: UInt8(ascii: "\n")).count < 2 && Date() < deadline {
            seen += output.fileHandleForReading.availableData
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let lines = String(decoding: seen, as: UTF8.self).split(separator: "\n")
        #expect(lines.count >= 2 && lines[1].contains("sent 0/s  received 0/s  depth 0"), "\(lines)")
        sender.close()
    }

    @Test func hzRefusesWhatIsNeitherAChannelNorATopic() throws {
        let name = ShmTool.uniqueName("hzmutex")
        defer { try? SharedMemory.remove(named: name) }
        _ = try ProcessMutex(named: name, mode: .create)
        let run = try ShmTool.run(["hz", name, "--count", "1"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains("mutex"), "\(run)")
        let missing = try ShmTool.run(["hz", name + ".missing", "--count", "1"])
        #expect(missing.status == 1, "\(missing)")
        let usage = try ShmTool.run(["hz", name, "--count", "0"])
        #expect(usage.status == 64, "\(usage)")
    }
}
