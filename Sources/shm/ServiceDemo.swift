import ArgumentParser
import Foundation
import Interprocess
import InterprocessBenchmarkKit

/// `shm demo request-response`: two server processes and three client processes on one
/// service. Clients A and B each send their requests one at a time and check every answer; client
/// K asks for a long stream, reads part of it and stops, and the tool kills it (SIGKILL) while
/// its server waits for it to read: the server finds it gone and goes on.
struct ServiceDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request-response",
        abstract: "Two server processes and several client processes on one service, one client killed mid-request.",
        discussion: """
            Clients A and B each send --count requests (a number to square) and check that every \
            response answers their own request; the two servers share the requests. Client K asks \
            for a stream of responses, reads a few and stops; the tool kills it with SIGKILL while \
            its server waits for it to read. The exit status is 0 only if A and B got every answer \
            right, K's server went on, and every process finished.
            """
    )

    @Option(help: "The requests each of clients A and B sends.")
    var count: Int = 10_000

    /// Set by the tool when it starts itself as one of the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var role: ServiceDemoRole?

    /// The service's name, passed to the roles.
    @Option(help: ArgumentHelp(visibility: .private))
    var service: String?

    func validate() throws {
        guard count >= 1, count <= 100_000_000 else {
            throw ValidationError("--count must be between 1 and 100000000.")
        }
        if role != nil && service == nil { throw ValidationError("--role needs --service.") }
    }

    /// Responses a server writes ahead of its client: K's stream fills this and waits.
    static let responseCapacity = 8
    /// The responses K asks for, and the ones it reads before it stops.
    static let streamLength: UInt64 = 1_000
    static let readBeforeStopping = 3

    func run() throws {
        if let role, let service {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do { try run(role, service) } catch { throw Terminal.failure("\(role.label): \(error)") }
            return
        }
        let name = "demo-service.\(ProcessIdentity.current.pid).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        BenchCleanup.shared.addSegment(name)
        BenchCleanup.shared.installSignalHandlers()
        defer { BenchCleanup.shared.run() }
        do {
            // The tool creates the service (and so decides its configuration) without taking part.
            try ServiceServer<DemoQuery, DemoAnswer>(
                named: name,
                configuration: ServiceConfiguration(
                    maximumClients: 4, maximumServers: 2, responseCapacity: ServiceDemo.responseCapacity),
                mode: .create
            ).close()
        } catch {
            throw Terminal.failure(error.description)
        }
        let start = Deadline.now
        do {
            try runProcesses(name)
            let elapsed = Double(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            say(String(format: "Done in %.2f s: every check held.", elapsed))
        } catch let failure as DemoFailure {
            throw Terminal.failure("demo failed: \(failure.reason)")
        }
    }

    // MARK: - The tool

    private func start(_ role: ServiceDemoRole, _ name: String, lines: @escaping @Sendable (String) -> Void) throws
        -> DemoChild
    {
        try DemoChild(
            role.label,
            arguments: ["demo", "request-response", "--role", role.rawValue, "--service", name, "--count", "\(count)"],
            lines: lines)
    }

    private func runProcesses(_ name: String) throws {
        let stalled = DispatchSemaphore(value: 0)
        let forward: @Sendable (String) -> Void = { line in
            Terminal.line(line)
            if line.contains(ServiceDemo.stalledMarker) { stalled.signal() }
        }
        var children: [DemoChild] = []
        defer { ChildProcesses.stop(children.map(\.process)) }
        for role in [ServiceDemoRole.server1, .server2, .clientK] {
            children.append(try start(role, name, lines: forward))
        }
        let bound = 30 + Double(count) / 2_000
        guard stalled.wait(timeout: .now() + bound) == .success else {
            throw DemoFailure(reason: "client K never stopped reading its stream")
        }
        let victim = children[2]
        kill(victim.pid, SIGKILL)
        victim.process.waitUntilExit()
        say("Killed client K (pid \(victim.pid)) with SIGKILL in the middle of its request")
        for role in [ServiceDemoRole.clientA, .clientB] { children.append(try start(role, name, lines: forward)) }
        say(
            "Started "
                + children.filter { $0 !== victim }.map { "\($0.label) (pid \($0.pid))" }.joined(separator: ", ")
                + " on service '\(name)'")
        let deadline = Date().addingTimeInterval(bound)
        for child in children[3...] { try child.finish(by: deadline) }
        // The clients are done: stop the servers, which report what they handled.
        for child in children[0..<2] { kill(child.pid, SIGTERM) }
        for child in children[0..<2] { try child.finish(by: deadline) }
        for child in children { child.stopForwarding() }
    }

    static let stalledMarker = "stops reading in the middle of its stream"

    // MARK: - The roles

    private func run(_ role: ServiceDemoRole, _ name: String) throws {
        switch role {
        case .server1, .server2: try serve(name, label: role.label)
        case .clientA, .clientB: try ask(name, label: role.label, client: role == .clientA ? 0 : 1)
        case .clientK: try askAndStall(name)
        }
    }

    private func serve(_ name: String, label: String) throws {
        // The tool stops servers with SIGTERM once the clients are done: report, then exit.
        let stop = DispatchSemaphore(value: 0)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM)
        source.setEventHandler { stop.signal() }
        source.resume()
        var server = try ServiceServer<DemoQuery, DemoAnswer>(named: name, mode: .open)
        var answered = 0
        var gone = 0
        while stop.wait(timeout: .now()) == .timedOut {
            guard let request = try server.receive(timeout: .milliseconds(50)) else { continue }
            let query = request.value
            if query.stream == 0 {
                try request.respond(DemoAnswer(query, part: 0))
                answered += 1
                continue
            }
            var part: UInt64 = 0
            let outcome = ServiceDemo.stream(request, answering: query, sent: &part)
            if case .failure(.clientGone) = outcome {
                gone += 1
                say("\(label): client \(query.client) is gone after \(part) of \(query.stream) responses; going on")
            }
        }
        say("\(label): answered \(answered) requests; \(gone) client\(gone == 1 ? "" : "s") gone mid-request")
    }

    /// Answers `query` with its stream of responses, counting them in `sent`.
    private static func stream(
        _ request: consuming ServiceRequest<DemoQuery, DemoAnswer>, answering query: DemoQuery, sent: inout UInt64
    ) -> Result<Void, ServiceError> {
        do throws(ServiceError) {
            while sent < query.stream {
                try request.yield(DemoAnswer(query, part: sent))
                sent += 1
            }
            try request.finish()
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    private func ask(_ name: String, label: String, client: UInt64) throws {
        var service = try ServiceClient<DemoQuery, DemoAnswer>(named: name)
        var servers: Set<UInt64> = []
        for n in 0..<UInt64(count) {
            let query = DemoQuery(client: client, number: n, stream: 0)
            guard let answer = try service.request(query, timeout: .seconds(20)) else {
                throw DemoFailure(reason: "no answer to request \(n) within 20 s")
            }
            guard answer.answers(query, part: 0) else {
                throw DemoFailure(reason: "request \(n) got an answer to another request")
            }
            servers.insert(answer.server)
        }
        say(
            "\(label): all \(count) answers right, from servers \(servers.sorted().map { "\($0 + 1)" }.joined(separator: " and "))"
        )
    }

    private func askAndStall(_ name: String) throws {
        var service = try ServiceClient<DemoQuery, DemoAnswer>(named: name)
        var pending = try service.submit(DemoQuery(client: 2, number: 7, stream: ServiceDemo.streamLength))
        for _ in 0..<ServiceDemo.readBeforeStopping {
            guard try pending.next(timeout: .seconds(20)) != nil else {
                throw DemoFailure(reason: "no response within 20 s")
            }
        }
        say(
            "Client K: asked for \(ServiceDemo.streamLength) responses, read \(ServiceDemo.readBeforeStopping), "
                + ServiceDemo.stalledMarker)
        withExtendedLifetime(pending) {
            while true { sleep(60) }
        }
    }

    private func say(_ text: String) { Terminal.line("[pid \(ProcessIdentity.current.pid)] \(text)") }
}

/// The roles of `shm demo request-response`.
enum ServiceDemoRole: String, CaseIterable, ExpressibleByArgument, Sendable {
    case server1 = "server-1"
    case server2 = "server-2"
    case clientA = "client-a"
    case clientB = "client-b"
    case clientK = "client-k"

    var label: String {
        switch self {
        case .server1: "Server 1"
        case .server2: "Server 2"
        case .clientA: "Client A"
        case .clientB: "Client B"
        case .clientK: "Client K"
        }
    }
}

/// A request of the demo: a number to square (or, with `stream`, that many parts).
struct DemoQuery: BitwiseCopyable, StablyNamed {
    static let stableName = "shm.demo.Query.v1"
    var client: UInt64
    var number: UInt64
    var stream: UInt64
}

/// An answer of the demo: which request it answers, which server answered, and the square.
struct DemoAnswer: BitwiseCopyable, StablyNamed {
    static let stableName = "shm.demo.Answer.v1"
    var client: UInt64
    var number: UInt64
    var part: UInt64
    var server: UInt64
    var square: UInt64

    init(_ query: DemoQuery, part: UInt64) {
        client = query.client
        number = query.number
        self.part = part
        server = ServiceDemoRole.serverIndex
        square = query.number &* query.number &+ part
    }

    func answers(_ query: DemoQuery, part: UInt64) -> Bool {
        client == query.client && number == query.number && self.part == part
            && square == query.number &* query.number &+ part
    }
}

extension ServiceDemoRole {
    /// The index of the server this process plays (0 for server 1, 1 for server 2), from its
    /// arguments.
    static let serverIndex: UInt64 = CommandLine.arguments.contains(ServiceDemoRole.server2.rawValue) ? 1 : 0
}
