import Foundation
import Testing

/// `shm demo pubsub` across real processes: its own checks decide the exit status; the output
/// says what each role received.
@Suite struct PubSubDemoTests {
    @Test(.timeLimit(.minutes(2)))
    func theDemoRunsEveryRoleAndSaysWhatEachReceived() throws {
        let process = Process()
        process.executableURL = try ThreadPoolDemoTests.shmExecutable()
        process.arguments = ["demo", "pubsub", "--count", "4000", "--capacity", "64", "--history", "8"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        for expected in [
            "Subscriber A: received all 4000 messages in order, none lost",
            "Subscriber B: received all 4000 messages in order, none lost",
            "Subscriber K: received 1000 messages; holds a sample and stops reading at message 1000",
            "with SIGKILL while it held a sample",
            "Subscriber L: joined late and received the history: messages 1992..<2000",
            "Subscriber L: then received messages 2000..<4000 in order, none lost",
            "Publisher: published all 4000 messages and closed",
            "every check held"
        ] {
            #expect(text.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
    }

    @Test func optionsThatCannotMakeTheScenarioAreRefused() throws {
        for arguments in [
            ["--count", "10"], ["--capacity", "3"], ["--history", "0"], ["--count", "1000", "--capacity", "256"]
        ] {
            let process = Process()
            process.executableURL = try ThreadPoolDemoTests.shmExecutable()
            process.arguments = ["demo", "pubsub"] + arguments
            process.standardOutput = Pipe()
            process.standardError = Pipe()
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus != 0, "\(arguments)")
        }
    }
}
