import Foundation

/// The built `shm` executable, run as a child process with its output captured.
enum ShmTool {
    /// The outcome of one run.
    struct Run: CustomStringConvertible {
        var status: Int32
        var killedBySignal: Bool
        var stdout: String
        var stderr: String

        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

        var description: String {
            "status \(status)\(killedBySignal ? " (signal)" : "")\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
        }
    }

    /// `shm` in the products directory: next to the test bundle (SwiftPM builds the `shm`
    /// product there because `shmTests` depends on it), or `$SHM_EXECUTABLE`.
    static let executable: URL = {
        if let path = ProcessInfo.processInfo.environment["SHM_EXECUTABLE"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        #if os(macOS)
            // The test bundle is a directory `X.xctest`; the products directory holds it.
            for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
                return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("shm")
            }
        #endif
        // On Linux the test bundle `X.xctest` is itself the executable running these tests.
        let runner =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map {
                URL(fileURLWithPath: $0)
            } ?? Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return runner.deletingLastPathComponent().appendingPathComponent("shm")
    }()

    /// Runs `shm arguments…`, killing it if it has not finished after `timeout` seconds.
    static func run(
        _ arguments: [String], timeout: Double = 60, environment: [String: String] = [:], asUser: UInt32? = nil
    ) throws -> Run {
        let process = Process()
        if let asUser {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments =
                ["--reuid=\(asUser)", "--regid=\(asUser)", "--clear-groups", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()

        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        // Read both pipes at once so a full one never blocks the child.
        let errorData = Captured()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            errorData.set(error.fileHandleForReading.readDataToEndOfFile())
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        watchdog.cancel()
        return Run(
            status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: String(decoding: outputData, as: UTF8.self),
            stderr: String(decoding: errorData.get(), as: UTF8.self))
    }

    /// The schema version every `--json` output carries.
    static let jsonSchemaVersion = 1

    /// Parses `text` as the JSON envelope `shm COMMAND --json` prints (`{"schemaVersion": 1,
    /// "command": COMMAND, "result": …}`, nothing else) and returns its result.
    static func jsonEnvelope(_ text: String, of command: String) throws -> Any {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        guard let envelope = value as? [String: Any] else { throw JSONShapeError(text: text, expected: "an object") }
        guard Set(envelope.keys) == ["schemaVersion", "command", "result"] else {
            throw JSONShapeError(text: text, expected: "exactly the keys schemaVersion, command, result")
        }
        guard envelope["schemaVersion"] as? Int == jsonSchemaVersion else {
            throw JSONShapeError(text: text, expected: "schemaVersion \(jsonSchemaVersion)")
        }
        guard envelope["command"] as? String == command else {
            throw JSONShapeError(text: text, expected: "command \"\(command)\"")
        }
        return envelope["result"]!
    }

    /// The result of `shm COMMAND --json`'s envelope, which must be an object.
    static func jsonResult(_ text: String, of command: String) throws -> [String: Any] {
        guard let result = try jsonEnvelope(text, of: command) as? [String: Any] else {
            throw JSONShapeError(text: text, expected: "a result that is an object")
        }
        return result
    }

    struct JSONShapeError: Error, CustomStringConvertible {
        let text: String
        let expected: String
        var description: String { "not \(expected): \(text)" }
    }

    /// A name no other test (or test run) uses.
    static func uniqueName(_ label: String) -> String {
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "shmtests.\(label).\(ProcessInfo.processInfo.processIdentifier).\(random)"
    }
}

private final class Captured: @unchecked Sendable {
    // @unchecked Sendable: `data` is written once by the reader before `group.wait()` returns.
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}
