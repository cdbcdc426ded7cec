import Foundation
import Testing

/// `shm demo blackboard` across real processes: its own checks decide the exit status.
@Suite struct BlackboardDemoTests {
    @Test(.timeLimit(.minutes(2)))
    func theDemoKillsAWriterAndNoReaderSeesATornValue() throws {
        let process = Process()
        process.executableURL = try ThreadPoolDemoTests.shmExecutable()
        process.arguments = ["demo", "blackboard", "--count", "5000", "--kill-after", "100"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        for expected in [
            "Tool: killed writer 1 (SIGKILL)", "writer-2: took the writer role",
            "reader-A:", "reader-B:", "0 torn, 0 went back, last page seen", "Done: no torn value"
        ] {
            #expect(text.contains(expected), "missing '\(expected)' in \(text)")
        }
    }
}
