import Foundation
import Interprocess
import Testing

/// `shm ls`, `shm inspect` and `shm rm` end to end, on objects this process creates.
@Suite struct ObjectCommandTests {
    @Test func listShowsACreatedArray() throws {
        let name = ShmTool.uniqueName("ls")
        let array = try SharedArray<Int>(named: name, count: 5, initialValue: -1, mode: .create)
        defer { try? array.remove() }

        let run = try ShmTool.run(["ls", "--json"])
        #expect(run.status == 0, "\(run)")
        let listing = try ShmTool.jsonResult(run.stdout, of: "ls")
        let objects = try #require(listing["objects"] as? [[String: Any]], "\(run)")
        let entry = try #require(objects.first { $0["name"] as? String == name }, "\(run)")
        let header = try #require(entry["header"] as? [String: Any], "\(run)")
        #expect(header["kind"] as? String == "array")
        #expect(header["capacity"] as? Int == 5)
        #expect(entry["error"] is NSNull)
        #expect(entry["mode"] as? String == "0600")

        let human = try ShmTool.run(["ls"])
        #expect(human.status == 0, "\(human)")
        #expect(human.stdoutLines.first?.hasPrefix("NAME") == true, "\(human)")
        let line = try #require(human.stdoutLines.first { $0.hasPrefix(name + " ") }, "\(human)")
        #expect(line.contains("array") && line.contains("5 × Swift.Int") && line.contains("alive"), "\(line)")
    }

    @Test func inspectShowsTheHeader() throws {
        let name = ShmTool.uniqueName("inspect")
        let array = try SharedArray<Int>(named: name, count: 5, initialValue: -1, mode: .create)
        defer { try? array.remove() }

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 0, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        #expect(object["name"] as? String == name)
        let header = try #require(object["header"] as? [String: Any], "\(run)")
        #expect(header["kind"] as? String == "array")
        #expect(header["capacity"] as? Int == 5)
        #expect(header["layoutVersion"] as? Int == 3)
        #expect(header["kindLayoutVersion"] as? Int == 1)
        let element = try #require(header["elementType"] as? [String: Any], "\(run)")
        #expect(element["name"] as? String == "Swift.Int")
        #expect(element["stride"] as? Int == MemoryLayout<Int>.stride)
        let creator = try #require(header["creator"] as? [String: Any], "\(run)")
        #expect(creator["pid"] as? Int == Int(ProcessIdentity.current.pid))
        #expect(creator["alive"] as? Bool == true)

        let human = try ShmTool.run(["inspect", name])
        #expect(human.status == 0, "\(human)")
        #expect(human.stdoutLines.contains { $0.hasPrefix("kind:") && $0.hasSuffix("array") }, "\(human)")
        #expect(human.stdout.contains("Swift.Int (size 8, stride 8, alignment 8)"), "\(human)")
    }

    @Test func inspectOfABrokenObjectReportsTheError() throws {
        let name = ShmTool.uniqueName("broken")
        let path = SharedMemory.directory + "/" + SegmentName.prefix + name
        #expect(FileManager.default.createFile(atPath: path, contents: Data("not a segment".utf8)))
        defer { try? SharedMemory.remove(named: name) }

        let run = try ShmTool.run(["inspect", name, "--json"])
        #expect(run.status == 1, "\(run)")
        let object = try ShmTool.jsonResult(run.stdout, of: "inspect")
        #expect(object["header"] is NSNull)
        #expect((object["error"] as? String)?.contains("truncated") == true, "\(run)")
        #expect(run.stderrLines.count == 1, "\(run)")

        let listing = try ShmTool.run(["ls"])
        let line = try #require(listing.stdoutLines.first { $0.hasPrefix(name + " ") }, "\(listing)")
        #expect(line.contains("error: '\(name)' is truncated"), "\(line)")
    }

    @Test func removeDeletesTheObject() throws {
        let name = ShmTool.uniqueName("rm")
        let array = try SharedArray<Int>(named: name, count: 5, initialValue: -1, mode: .create)
        defer { try? SharedMemory.remove(named: name) }
        #expect(SharedMemory.exists(named: name))
        _ = array

        let run = try ShmTool.run(["rm", name])
        #expect(run.status == 0, "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func removeOfAMissingNameFails() throws {
        let name = ShmTool.uniqueName("missing")
        let run = try ShmTool.run(["rm", name])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderrLines == ["shm: no shared-memory object named '\(name)'"], "\(run)")

        let json = try ShmTool.run(["rm", name, "--json"])
        #expect(json.status == 1, "\(json)")
        let outcome = try ShmTool.jsonResult(json.stdout, of: "rm")
        #expect((outcome["removed"] as? [String])?.isEmpty == true)
        #expect((outcome["failed"] as? [[String: Any]])?.first?["name"] as? String == name)
    }

    @Test func inspectOfAMissingOrInvalidNameFails() throws {
        let missing = ShmTool.uniqueName("missing")
        let run = try ShmTool.run(["inspect", missing])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderrLines == ["shm: no shared-memory object named '\(missing)'"], "\(run)")
        #expect(run.stdout.isEmpty)

        let invalid = try ShmTool.run(["inspect", "bad/name"])
        #expect(invalid.status == 1, "\(invalid)")
        #expect(invalid.stderrLines == ["shm: invalid name 'bad/name': a name must not contain '/'"], "\(invalid)")
    }
}
