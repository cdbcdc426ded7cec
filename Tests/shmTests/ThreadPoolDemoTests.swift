import Foundation
import Testing

@Suite struct ThreadPoolDemoTests {
    /// The built `shm` executable, next to the test bundle in the build products directory.
    static func shmExecutable() throws -> URL {
        var candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        let argument0 = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(argument0)
        for directory in candidates {
            let url = directory.appendingPathComponent("shm")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "shm next to \(candidates)"])
    }

    @Test(.timeLimit(.minutes(1)))
    func defaultScenarioRunsTwentyJobsOnFiveThreads() throws {
        let process = Process()
        process.executableURL = try Self.shmExecutable()
        process.arguments = ["demo", "thread-pool", "--job-duration", "0.05"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        let lines = text.split(separator: "\n")
        let work = lines.filter { $0.contains(" : doing ") && $0.hasSuffix(" work") }
        #expect(work.count == 20, "\(text)")
        for idx in 0..<20 {
            #expect(work.contains { $0.hasSuffix(" doing \(idx) work") }, "job \(idx) missing")
        }
        #expect(work.allSatisfy { $0.hasPrefix("worker-") })
        #expect(lines.contains { $0.hasPrefix("20 jobs on 5 threads: elapsed") }, "\(text)")
    }

    @Test func invalidOptionsFailWithAUsageError() throws {
        let process = Process()
        process.executableURL = try Self.shmExecutable()
        process.arguments = ["demo", "thread-pool", "--threads", "0"]
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
    }
}
