import Foundation
import Testing

/// `shm demo request-response` across real processes: its own checks decide the exit status;
/// the output says what each role did.
@Suite struct ServiceDemoTests {
    @Test(.timeLimit(.minutes(2)))
    func theDemoRunsEveryRoleAndSaysWhatEachDid() throws {
        let process = Process()
        process.executableURL = try ThreadPoolDemoTests.shmExecutable()
        process.arguments = ["demo", "request-response", "--count", "3000"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        for expected in [
            "Client K: asked for 1000 responses, read 3, stops reading in the middle of its stream",
            "Killed client K",
            "Client A: all 3000 answers right",
            "Client B: all 3000 answers right",
            "client 2 is gone after",
            "1 client gone mid-request",
            "every check held"
        ] {
            #expect(text.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
    }

    @Test func aCountThatCannotMakeTheScenarioIsRefused() throws {
        let process = Process()
        process.executableURL = try ThreadPoolDemoTests.shmExecutable()
        process.arguments = ["demo", "request-response", "--count", "0"]
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
    }
}
