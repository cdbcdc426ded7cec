import ArgumentParser
import Foundation
import Interprocess
import InterprocessBenchmarkKit

/// `shm demo blackboard`: a writer process keeps a 4 KiB value current while two reader
/// processes read it as fast as they can; the tool kills the writer (SIGKILL) mid-stream and
/// starts a second writer, which takes the role over. Every read is checked whole.
struct BlackboardDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blackboard",
        abstract: "A writer process and two reader processes on one blackboard; the writer is killed and replaced.",
        discussion: """
            The value is a page of 512 copies of one counter: a torn read (part of one write, \
            part of another) would show words that differ. Writer 1 writes pages until the tool \
            kills it with SIGKILL, almost certainly in the middle of a write; writer 2 then takes \
            the writer role and writes --count pages. The exit status is 0 only if no reader saw \
            a torn page or a counter going back, and both saw writer 2's last page.
            """
    )

    @Option(help: "The pages the second writer writes.")
    var count: Int = 200_000

    @Option(help: "Milliseconds the first writer writes before it is killed.")
    var killAfter: Int = 300

    /// Set by the tool when it starts itself as one of the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: String?

    /// The blackboard's name, passed to the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var board: String?

    /// The first page of a writer role.
    @Option(help: ArgumentHelp(visibility: .private))
    var first: UInt64 = 1

    func validate() throws {
        guard count >= 1, count <= 100_000_000 else { throw ValidationError("--count must be 1...100000000.") }
        guard killAfter >= 1, killAfter <= 60_000 else { throw ValidationError("--kill-after must be 1...60000.") }
        if role != nil && board == nil { throw ValidationError("--role needs --board.") }
    }

    /// The second writer's first page: above anything the first one reaches.
    static let secondWriterFirst: UInt64 = 1 << 40

    struct Page: BitwiseCopyable, StablyNamed {
        static let stableName = "interprocess.demo.Page.v1"
        var words: InlineArray<512, UInt64>
        init(_ counter: UInt64) { words = InlineArray(repeating: counter) }
        var uniformCounter: UInt64? {
            let first = words[0]
            for i in words.indices where words[i] != first { return nil }
            return first
        }
    }

    func run() throws {
        if let role, let board {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do { try run(role, board) } catch { throw Terminal.failure("\(role): \(error)") }
            return
        }
        let name =
            "demo-blackboard.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        BenchCleanup.shared.addSegment(name)
        BenchCleanup.shared.installSignalHandlers()
        defer { BenchCleanup.shared.run() }
        do {
            var writer = try BlackboardWriter(
                named: name,
                configuration: BlackboardConfiguration(
                    keyCapacity: 4, valueSpace: BlackboardConfiguration.bytesNeeded(forValueOfSize: 4096)),
                mode: .create)
            try writer.addKey("page", as: Page.self, initialValue: Page(0))
        } catch {
            throw Terminal.failure(error.description)
        }
        let readers = try ["reader-A", "reader-B"].map { try start($0, name) }
        let first = try start("writer-1", name, first: 1)
        Thread.sleep(forTimeInterval: Double(killAfter) / 1000)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        say("Tool: killed writer 1 (SIGKILL) in the middle of its writes")
        let second = try start("writer-2", name, first: Self.secondWriterFirst)
        for process in [second] + readers { process.waitUntilExit() }
        let failed = ([second] + readers).filter { $0.terminationStatus != 0 }
        guard failed.isEmpty else { throw Terminal.failure("demo failed: a role's checks did not hold") }
        say("Done: no torn value, and both readers saw writer 2's last page.")
    }

    private func start(_ role: String, _ name: String, first: UInt64 = 1) throws -> Process {
        let process = Process()
        process.executableURL = ChildProcesses.currentExecutable()
        process.arguments = [
            "demo", "blackboard", "--role", role, "--board", name, "--count", "\(count)", "--first", "\(first)"
        ]
        try process.run()
        return process
    }

    private func run(_ role: String, _ name: String) throws {
        let last = Self.secondWriterFirst + UInt64(count) - 1
        if role.hasPrefix("writer") {
            var writer: BlackboardWriter? = nil
            let deadline = ContinuousClock.now + .seconds(10)
            while writer == nil {
                do { writer = try BlackboardWriter(named: name, mode: .open) } catch {
                    // The killed writer's role is freed as its process ends.
                    guard error == .writerActive, ContinuousClock.now < deadline else { throw error }
                    Thread.sleep(forTimeInterval: 0.001)
                }
            }
            var board = writer.take()!
            let key = try board.key("page", as: Page.self)
            say("\(role): took the writer role at version \(board.keys.first?.version ?? 0)")
            var counter = first
            while role == "writer-1" || counter <= last {
                try board.write(Page(counter), to: key)
                counter += 1
            }
            say("\(role): wrote pages \(first)...\(last)")
            return
        }
        let reader = try BlackboardReader(named: name)
        let key = try reader.key("page", as: Page.self)
        var reads = 0, torn = 0, backwards = 0
        var seen: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while seen < last && ContinuousClock.now < deadline {
            guard let read = try reader.read(key) else { continue }
            reads += 1
            guard let counter = read.value.uniformCounter else {
                torn += 1
                continue
            }
            if counter < seen { backwards += 1 }
            seen = max(seen, counter)
        }
        say(
            "\(role): \(reads) reads, \(torn) torn, \(backwards) went back, last page \(seen == last ? "seen" : "not seen")"
        )
        if torn > 0 || backwards > 0 || seen != last { throw DemoFailure(reason: "\(role)'s checks failed") }
    }

    private func say(_ text: String) { Terminal.line("[pid \(ProcessIdentity.current.pid)] \(text)") }
}
