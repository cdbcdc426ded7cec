import Foundation
import Glibc
import Interprocess
import Testing

/// Every `--json` output of `shm` is one envelope, `{"schemaVersion": 1, "command": NAME,
/// "result": …}`, and `shm --version` prints the tool's version.
@Suite struct JSONOutputTests {
    /// The commands that take `--json`, with arguments that make each succeed (or, for `rm` of
    /// a missing name, fail after printing its JSON).
    static let jsonCommands: [String: [String]] = [
        "ls": ["ls", "--json"],
        "inspect": ["inspect", "NAME", "--json"],
        "rm": ["rm", "NAME", "--json"],
        "clean": ["clean", "--include-damaged", "--json"],
        "bench": ["bench", "--quick", "--scenarios", "flag", "--workloads", "rtt", "--round-trips", "200", "--json"],
        // Checked against a live channel in HzCommandTests (it needs one to report on).
        "hz": ["hz", "NAME", "--count", "1", "--json"]
    ]

    /// The subcommands `shm ARGUMENTS --help` lists: the lines of its SUBCOMMANDS section that
    /// start with a name indented by two spaces (deeper indents continue an abstract).
    static func subcommands(_ arguments: [String]) throws -> [String] {
        let help = try ShmTool.run(arguments + ["--help"])
        let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("SUBCOMMANDS:") }) else { return [] }
        return lines[(start + 1)...].prefix { !$0.isEmpty }.compactMap { line in
            guard line.hasPrefix("  "), line.dropFirst(2).first?.isWhitespace == false else { return nil }
            return line.dropFirst(2).split(separator: " ").first.map(String.init)
        }
    }

    @Test func everyCommandWithJSONIsCovered() throws {
        // Every leaf command whose help offers --json is in `jsonCommands`, so the test below
        // checks each of them.
        var withJSON: Set<String> = []
        for command in try Self.subcommands([]) where command != "help" {
            let nested = try Self.subcommands([command])
            for path in nested.isEmpty ? [[command]] : nested.map({ [command, $0] }) {
                let help = try ShmTool.run(path + ["--help"])
                #expect(help.status == 0, "\(path): \(help)")
                if help.stdout.contains("--json") { withJSON.insert(path.joined(separator: " ")) }
            }
        }
        #expect(withJSON == Set(Self.jsonCommands.keys), "commands with --json: \(withJSON.sorted())")
    }

    @Test func everyJSONOutputIsTheEnvelope() throws {
        let directory = NSTemporaryDirectory() + "shm-json-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let environment = ["INTERPROCESS_SHM_DIRECTORY": directory]
        // A damaged entry of this user's, for `inspect` to report and `clean` to remove.
        let name = ShmTool.uniqueName("json")
        #expect(
            FileManager.default.createFile(
                atPath: directory + "/" + SegmentName.prefix + name, contents: Data("not a segment".utf8)))

        for command in ["ls", "inspect", "clean", "rm", "bench"] {
            let arguments = Self.jsonCommands[command]!.map { $0 == "NAME" ? name : $0 }
            let run = try ShmTool.run(arguments, timeout: 120, environment: environment)
            #expect(!run.killedBySignal, "\(arguments): \(run)")
            let result: Any
            do { result = try ShmTool.jsonEnvelope(run.stdout, of: command) } catch {
                Issue.record("\(arguments): \(error)\n\(run)")
                continue
            }
            switch command {
            case "ls":
                let objects = (result as? [String: Any])?["objects"] as? [[String: Any]]
                #expect(objects?.map { $0["name"] as? String } == [name], "\(run)")
            case "inspect":
                // A damaged object: the JSON is printed, and the status says it is broken.
                #expect(run.status == 1, "\(run)")
                #expect((result as? [String: Any])?["header"] is NSNull, "\(run)")
            case "clean":
                #expect(run.status == 0, "\(run)")
                let entries = result as? [[String: Any]]
                #expect(entries?.count == 1, "\(run)")
                #expect(entries?.first?["name"] as? String == name, "\(run)")
                #expect(entries?.first?["removed"] as? Bool == true, "\(run)")
            case "rm":
                // Removed by `clean` just before: a failure, reported in the result.
                #expect(run.status == 1, "\(run)")
                let failed = (result as? [String: Any])?["failed"] as? [[String: Any]]
                #expect(failed?.first?["name"] as? String == name, "\(run)")
            case "bench":
                #expect(run.status == 0, "\(run)")
                let rows = (result as? [String: Any])?["rows"] as? [[String: Any]]
                #expect(rows?.map { $0["id"] as? String } == ["c-flag", "flag"], "\(run)")
            default:
                Issue.record("no check for \(command)")
            }
        }
    }

    @Test func versionIsOneLine() throws {
        let run = try ShmTool.run(["--version"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        #expect(run.stdoutLines.count == 1, "\(run)")
        let parts = (run.stdoutLines.first ?? "").split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, "\(run)")
        // The top-level help names the option.
        #expect(try ShmTool.run(["--help"]).stdout.contains("--version"))
    }
}
