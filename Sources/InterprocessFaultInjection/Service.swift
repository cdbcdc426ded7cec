import Glibc
import Interprocess
import Synchronization

// The service scenario: two servers share a service, three clients send numbered requests of
// four shapes (one response; a stream of 1...8 responses, more than the ring holds, read
// sometimes slowly; a request without reply; a response and a stream in flight at once), and
// one victim, a server or a client (even odds), is SIGKILLed at a random moment. Then
// - every response a client gets must answer its own request: its client, sequence and part,
//   in order, with a body only that (client, sequence, part) yields (torn or misrouted
//   otherwise), and every stream must end after exactly its parts;
// - a client whose request the killed server held must get `.serverDied` within 1 s of the
//   kill (its timeout is 30 s), never after a client kill, and its retry must succeed;
// - after a client kill, the servers must go on serving the others (a dead client that stopped
//   reading a stream never holds a server) and a successor client must take the dead one's
//   slot (the service has exactly three client slots);
// - after a server kill, a successor server must take the dead one's slot (exactly two server
//   slots) and, once the surviving server is stopped (before the successor starts, half the
//   time: the requests sent meanwhile wait for it), serve every client alone;
// - every request sent without reply by a surviving client must be handled exactly once (one
//   may be lost with a killed server that had taken it);
// - every survivor must end within the hang deadline.

/// A request: who asks, its sequence number, its shape and (streams) its number of parts,
/// and a checksum of all of it.
struct FaultRequest: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.fault.Request.v1"
    enum Shape: UInt32 {
        case single = 0
        case stream = 1
        case noReply = 2
    }
    var client: UInt32
    var sequence: UInt32
    var shape: UInt32
    var parts: UInt32
    var checksum: UInt64

    init(client: Int, sequence: Int, shape: Shape, parts: Int = 1) {
        self.client = UInt32(client)
        self.sequence = UInt32(truncatingIfNeeded: sequence)
        self.shape = shape.rawValue
        self.parts = UInt32(parts)
        checksum = 0
        checksum = computeChecksum()
    }

    func computeChecksum() -> UInt64 {
        let key = UInt64(client) << 32 | UInt64(sequence)
        return FaultMessage.mix(key ^ FaultMessage.mix(UInt64(shape) << 32 | UInt64(parts)))
    }
    var isIntact: Bool { checksum == computeChecksum() && Shape(rawValue: shape) != nil }
}

/// A response: the request's client and sequence, its part, the server that wrote it, and six
/// words only that (client, sequence, part) yields.
struct FaultResponse: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.fault.Response.v1"
    var client: UInt32
    var sequence: UInt32
    var part: UInt32
    var server: UInt32
    var body: InlineArray<6, UInt64>

    init(answering request: FaultRequest, part: Int, server: Int) {
        client = request.client
        sequence = request.sequence
        self.part = UInt32(part)
        self.server = UInt32(server)
        body = InlineArray(repeating: 0)
        for i in body.indices { body[i] = FaultResponse.word(client, sequence, self.part, i) }
    }

    static func word(_ client: UInt32, _ sequence: UInt32, _ part: UInt32, _ i: Int) -> UInt64 {
        FaultMessage.mix(UInt64(client) << 48 ^ UInt64(sequence) << 16 ^ UInt64(part) << 4 ^ UInt64(i))
    }

    /// Whether the body is the one its own (client, sequence, part) yields.
    var isIntact: Bool {
        for i in body.indices where body[i] != FaultResponse.word(client, sequence, part, i) { return false }
        return true
    }
}

/// Exactly the endpoints the scenario uses, so a successor finds a slot only if the dead
/// one's is reclaimed; streams of up to 8 parts overrun the 4-entry ring.
let faultServiceConfiguration = ServiceConfiguration(
    maximumClients: 3, maximumServers: 2, requestsPerClient: 4, responseCapacity: 4)

/// The shared record of a service scenario.
struct ServiceBoard {
    static let size = 4096
    /// Servers 0 and 1, the successor 2; clients 0...2, the successor 3.
    static let servers = 3
    static let clients = 4
    let base: UnsafeMutableRawPointer

    // Relaxed throughout: counters the parent reads after the victims ended (waitpid orders
    // them), flags that only end loops, or progress it only polls.
    private func word(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + 8 * index).assumingMemoryBound(to: Atomic<Int>.self)
    }
    var clientStop: UnsafeMutablePointer<Atomic<Int>> { word(0) }
    var serverStopAll: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    var tornRequests: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    var tornResponses: UnsafeMutablePointer<Atomic<Int>> { word(3) }
    /// Intact responses that answer another request (client, sequence or part).
    var misrouted: UnsafeMutablePointer<Atomic<Int>> { word(4) }
    /// Streams that ended before or after their parts.
    var badStreams: UnsafeMutablePointer<Atomic<Int>> { word(5) }
    var serverDied: UnsafeMutablePointer<Atomic<Int>> { word(6) }
    /// The monotonic time (ns) of the latest `.serverDied` a client got.
    var serverDiedAt: UnsafeMutablePointer<Atomic<Int>> { word(7) }
    /// Requests retried after `.serverDied` and answered.
    var retried: UnsafeMutablePointer<Atomic<Int>> { word(8) }
    var clientGone: UnsafeMutablePointer<Atomic<Int>> { word(9) }
    var responses: UnsafeMutablePointer<Atomic<Int>> { word(10) }
    /// Other service errors a client or server got (each also said on its output).
    var otherErrors: UnsafeMutablePointer<Atomic<Int>> { word(11) }
    func serverStop(_ s: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(16 + s) }
    /// The request server `s` is handling: client + 1, 0 when none.
    func handling(_ s: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(24 + s) }
    /// Requests server `s` finished (answered, found the client gone, or handled without reply).
    func handled(_ s: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(32 + s) }
    /// Operations client `c` completed (a request, a stream, a send, a pair).
    func completed(_ c: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(40 + c) }
    /// Requests without reply client `c` sent, and those the servers handled.
    func sent(_ c: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(48 + c) }
    func sendsHandled(_ c: Int) -> UnsafeMutablePointer<Atomic<Int>> { word(56 + c) }

    func bump(_ counter: UnsafeMutablePointer<Atomic<Int>>) { counter.pointee.add(1, ordering: .relaxed) }
    func value(_ counter: UnsafeMutablePointer<Atomic<Int>>) -> Int { counter.pointee.load(ordering: .relaxed) }
}

typealias FaultServer = ServiceServer<FaultRequest, FaultResponse>
typealias FaultClient = ServiceClient<FaultRequest, FaultResponse>

// MARK: - Victims

/// `victim-svc-server PARENT BOARD NAME ID`: serves until its stop word (or the global one)
/// is set, says "done HANDLED". Work between responses spreads the kills over the handling.
func serviceServerVictim(parent: pid_t, board name: String, service: String, id: Int) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = ServiceBoard(base: segment.bytes.baseAddress!)
    var server = try FaultServer(named: service, mode: .open)
    say("ready")
    var generator = SystemRandomNumberGenerator()
    var handled = 0
    while board.value(board.serverStop(id)) == 0 && board.value(board.serverStopAll) == 0 {
        exitIfOrphaned(parent)
        guard let request = try server.receive(timeout: .milliseconds(20)) else { continue }
        let value = request.value
        guard value.isIntact, Int(value.client) < ServiceBoard.clients else {
            board.bump(board.tornRequests)
            say("torn request \(value)")
            continue
        }
        handled += 1
        guard request.expectsResponse else {
            if value.shape != FaultRequest.Shape.noReply.rawValue { board.bump(board.tornRequests) }
            board.bump(board.sendsHandled(Int(value.client)))
            board.bump(board.handled(id))
            continue
        }
        board.handling(id).pointee.store(Int(value.client) + 1, ordering: .relaxed)
        switch serve(request, value, server: id, generator: &generator) {
        case .success: break
        case .failure(.clientGone): board.bump(board.clientGone)
        case .failure(let error):
            board.bump(board.otherErrors)
            say("failure \(error)")
        }
        board.handling(id).pointee.store(0, ordering: .relaxed)
        board.bump(board.handled(id))
    }
    server.close()
    say("done \(handled)")
    exit(0)
}

/// Answers `request` as its shape says, with a random pause before each response.
private func serve(
    _ request: consuming ServiceRequest<FaultRequest, FaultResponse>, _ value: FaultRequest, server: Int,
    generator: inout SystemRandomNumberGenerator
) -> Result<Void, ServiceError> {
    do throws(ServiceError) {
        if value.shape == FaultRequest.Shape.stream.rawValue {
            for part in 0..<Int(value.parts) {
                spin(Int.random(in: 0..<5000, using: &generator))
                try request.yield(FaultResponse(answering: value, part: part, server: server))
            }
            try request.finish()
        } else {
            spin(Int.random(in: 0..<20_000, using: &generator))
            try request.respond(FaultResponse(answering: value, part: 0, server: server))
        }
        return .success(())
    } catch {
        return .failure(error)
    }
}

/// A client victim's state and checks.
private struct ServiceClientRun: ~Copyable {
    var client: FaultClient
    let board: ServiceBoard
    let id: Int
    var sequence = 0
    var generator = SystemRandomNumberGenerator()
    static let timeout: Duration = .seconds(30)

    /// Records a response that should be `part` of `request`.
    func check(_ response: FaultResponse, _ request: FaultRequest, part: Int) {
        board.bump(board.responses)
        if !response.isIntact {
            board.bump(board.tornResponses)
            say("torn response \(response.client) \(response.sequence) \(response.part)")
        } else if response.client != request.client || response.sequence != request.sequence
            || response.part != UInt32(part)
        {
            board.bump(board.misrouted)
            say(
                "misrouted: got \(response.client)/\(response.sequence)/\(response.part) for "
                    + "\(request.client)/\(request.sequence)/\(part)")
        }
    }

    /// A `.serverDied`: counted, with its time, for the parent to check against the kill.
    func serverDied() {
        board.bump(board.serverDied)
        board.serverDiedAt.pointee.max(Int(Deadline.now.uptimeNanoseconds), ordering: .relaxed)
    }

    func unexpected(_ error: ServiceError, _ what: String) -> Never { victimFail("\(what): \(error)") }

    /// Waits a little for a request slot: requests sent without reply hold theirs until a
    /// server takes them. Waiting longer than the timeout is a hang.
    func awaitSlot(since start: Deadline) {
        if start.advanced(by: ServiceClientRun.timeout).hasPassed {
            victimFail("no free request slot within \(ServiceClientRun.timeout)")
        }
        usleep(50)
    }

    /// Submits `request`, waiting for a free request slot.
    mutating func submit(_ request: FaultRequest) -> PendingResponses<FaultResponse> {
        let start = Deadline.now
        while true {
            do throws(ServiceError) { return try client.submit(request) } catch .requestLimitReached {
                awaitSlot(since: start)
            } catch {
                unexpected(error, "submit \(request.sequence)")
            }
        }
    }

    /// One request, one response; retried after `.serverDied` (`retrying`: this is a retry).
    mutating func single(_ request: FaultRequest, retrying: Bool = false) {
        var retry = retrying
        let start = Deadline.now
        while true {
            do throws(ServiceError) {
                guard let response = try client.request(request, timeout: ServiceClientRun.timeout) else {
                    victimFail("no response to \(request.sequence) within \(ServiceClientRun.timeout)")
                }
                check(response, request, part: 0)
                if retry { board.bump(board.retried) }
                return
            } catch .serverDied {
                serverDied()
                retry = true
            } catch .requestLimitReached {
                awaitSlot(since: start)
            } catch {
                unexpected(error, "request \(request.sequence)")
            }
        }
    }

    /// Reads a stream to its end; `false` after `.serverDied` (the parts before it checked).
    mutating func read(_ pending: inout PendingResponses<FaultResponse>, _ request: FaultRequest) -> Bool {
        var part = 0
        while true {
            do throws(ServiceError) {
                guard let response = try pending.next(timeout: ServiceClientRun.timeout) else {
                    guard pending.isFinished else {
                        victimFail("no response to \(request.sequence) within \(ServiceClientRun.timeout)")
                    }
                    if part != Int(request.parts) {
                        board.bump(board.badStreams)
                        say("stream \(request.sequence) ended after \(part) of \(request.parts) parts")
                    }
                    return true
                }
                check(response, request, part: part)
                part += 1
                // A slow reader now and then: the server waits for room in the ring.
                if Int.random(in: 0..<4, using: &generator) == 0 { usleep(UInt32.random(in: 0...300)) }
            } catch .serverDied {
                serverDied()
                return false
            } catch {
                unexpected(error, "stream \(request.sequence)")
            }
        }
    }

    /// A stream; retried whole after `.serverDied` (`retrying`: this is a retry).
    mutating func stream(_ request: FaultRequest, retrying: Bool = false) {
        var retry = retrying
        while true {
            var pending = submit(request)
            if read(&pending, request) {
                if retry { board.bump(board.retried) }
                return
            }
            retry = true
        }
    }

    mutating func send(_ request: FaultRequest) {
        do throws(ServiceError) {
            guard try client.send(request, timeout: ServiceClientRun.timeout) else {
                victimFail("no free request slot within \(ServiceClientRun.timeout)")
            }
            board.bump(board.sent(id))
        } catch {
            unexpected(error, "send \(request.sequence)")
        }
    }

    /// A single request and a stream in flight at once, the stream read first.
    mutating func pair(_ first: FaultRequest, _ second: FaultRequest) {
        var one = submit(first)
        var two = submit(second)
        if !read(&two, second) { stream(second, retrying: true) }
        var answered = false
        do throws(ServiceError) {
            guard let response = try one.next(timeout: ServiceClientRun.timeout) else {
                victimFail("no response to \(first.sequence) within \(ServiceClientRun.timeout)")
            }
            check(response, first, part: 0)
            answered = true
        } catch .serverDied {
            serverDied()
        } catch {
            unexpected(error, "request \(first.sequence)")
        }
        if !answered { single(first, retrying: true) }
    }

    mutating func step() {
        let a = sequence
        sequence += 2
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: single(FaultRequest(client: id, sequence: a, shape: .single))
        case 1: stream(FaultRequest(client: id, sequence: a, shape: .stream, parts: Int.random(in: 1...8)))
        case 2: send(FaultRequest(client: id, sequence: a, shape: .noReply))
        default:
            pair(
                FaultRequest(client: id, sequence: a, shape: .single),
                FaultRequest(client: id, sequence: a + 1, shape: .stream, parts: Int.random(in: 1...8)))
        }
        board.bump(board.completed(id))
    }
}

/// `victim-svc-client PARENT BOARD NAME ID`: sends requests until the stop word, says "done
/// OPERATIONS".
func serviceClientVictim(parent: pid_t, board name: String, service: String, id: Int) throws -> Never {
    let segment = try SharedMemory(named: name, mode: .open, size: nil)
    let board = ServiceBoard(base: segment.bytes.baseAddress!)
    var run = ServiceClientRun(client: try FaultClient(named: service), board: board, id: id)
    say("ready")
    var operations = 0
    while board.value(board.clientStop) == 0 {
        if operations & 15 == 0 { exitIfOrphaned(parent) }
        run.step()
        operations += 1
    }
    say("done \(operations)")
    exit(0)
}

// MARK: - Scenario

struct ServiceFigures {
    var iterations = 0, kills = 0, serverKills = 0, clientKills = 0, serverKillsMidRequest = 0
    var operations = 0, responses = 0, torn = 0, misrouted = 0, badStreams = 0
    var serverDied = 0, retried = 0, slowestReportMilliseconds = 0, clientGone = 0
    var sent = 0, sendsLost = 0, successors = 0, successorsAfterAGap = 0
}

func runServiceScenario(iterations: Int) throws -> ServiceFigures {
    var figures = ServiceFigures()
    for iteration in 0..<iterations {
        let context = "service \(iteration)"
        let service = "fault-\(getpid())-service-\(iteration)"
        let boardName = service + ".board"
        let boardSegment = try SharedMemory(named: boardName, mode: .create, size: ServiceBoard.size)
        defer {
            try? boardSegment.remove()
            try? SharedMemory.remove(named: service)
        }
        let board = ServiceBoard(base: boardSegment.bytes.baseAddress!)
        try FaultServer(named: service, configuration: faultServiceConfiguration, mode: .create).close()
        var children: [Child] = []
        defer { for c in children { c.kill() } }
        var servers = (0..<2).map { Child("svc-server", [parentPID, boardName, service, String($0)]) }
        var clients = (0..<3).map { Child("svc-client", [parentPID, boardName, service, String($0)]) }
        var clientIDs = [0, 1, 2]
        children = servers + clients
        guard children.allSatisfy({ $0.waitFor(["ready"], timeout: hangDeadline) != nil }) else {
            violation("\(context): a victim did not start: \(children.map(\.lines))")
            continue
        }

        /// Waits until every client in `ids` completed `count` more operations.
        func awaitProgress(_ ids: [Int], _ count: Int, _ what: String) {
            let before = ids.map { board.value(board.completed($0)) }
            let deadline = Deadline.after(hangDeadline)
            while zip(ids, before).contains(where: { board.value(board.completed($0.0)) < $0.1 + count }) {
                if deadline.hasPassed {
                    violation("\(context): clients \(ids) made no progress \(what); \(children.map(\.lines))")
                    return
                }
                usleep(200)
            }
        }

        randomPause(maximumMicroseconds: 20_000)
        let killServer = Bool.random()
        let index = Int.random(in: 0..<(killServer ? 2 : 3))
        let victim = killServer ? servers[index] : clients[index]
        let killedAt = Deadline.now
        killVictim(victim, context)
        // Read after the kill: the word the dead server left.
        let midRequest = killServer && board.value(board.handling(index)) != 0
        figures.kills += 1
        if killServer {
            figures.serverKills += 1
            if midRequest { figures.serverKillsMidRequest += 1 }
        } else {
            figures.clientKills += 1
        }
        let survivingClients = clientIDs.filter { killServer || $0 != index }
        awaitProgress(survivingClients, 3, "after the kill (held by the dead \(victim.role)?)")
        if !killServer {
            // Each server, not just one of them: a server waiting for the dead client to read
            // its stream must find it dead and go on (before a successor client takes the
            // slot, which would release it too).
            let before = (0..<2).map { board.value(board.handled($0)) }
            let deadline = Deadline.after(hangDeadline)
            while (0..<2).contains(where: { board.value(board.handled($0)) < before[$0] + 3 }) {
                if deadline.hasPassed {
                    violation("\(context): a server is held by the dead client; \(children.map(\.lines))")
                    break
                }
                usleep(200)
            }
        }

        if killServer {
            // The successor takes the dead server's slot, and the surviving server stops: after
            // the successor started, or (half the time, at random) before, so that for a while no
            // server is open and the clients' requests wait for the successor. Either way the
            // successor alone must then serve everyone.
            let survivor = servers[1 - index]
            let gap = Bool.random()
            func stopSurvivor() {
                board.serverStop(1 - index).pointee.store(1, ordering: .relaxed)
                _ = finalLine(of: survivor, ["done"], context)
            }
            if gap {
                stopSurvivor()
                usleep(UInt32.random(in: 0...5000))
                figures.successorsAfterAGap += 1
            }
            let successor = Child("svc-server", [parentPID, boardName, service, "2"])
            children.append(successor)
            guard successor.waitFor(["ready"], timeout: hangDeadline) != nil else {
                violation("\(context): the successor server did not take the slot: \(successor.lines)")
                continue
            }
            figures.successors += 1
            if !gap { stopSurvivor() }
            servers = [successor]
            awaitProgress(survivingClients, 3, "served by the successor server alone")
        } else {
            let successor = Child("svc-client", [parentPID, boardName, service, "3"])
            children.append(successor)
            guard successor.waitFor(["ready"], timeout: hangDeadline) != nil else {
                violation("\(context): the successor client did not take the slot: \(successor.lines)")
                continue
            }
            figures.successors += 1
            clients.remove(at: index)
            clients.append(successor)
            clientIDs = survivingClients + [3]
            awaitProgress(clientIDs, 3, "after the successor client joined")
        }

        board.clientStop.pointee.store(1, ordering: .relaxed)
        for client in clients {
            if let line = finalLine(of: client, ["done"], context) {
                figures.operations += Int(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        // Every request without reply of a live client is handled once; one taken by the
        // killed server may be lost.
        let drain = Deadline.after(.milliseconds(500))
        while clientIDs.contains(where: { board.value(board.sendsHandled($0)) < board.value(board.sent($0)) })
            && !drain.hasPassed
        {
            usleep(200)
        }
        var lost = 0
        for c in clientIDs {
            let (sent, handled) = (board.value(board.sent(c)), board.value(board.sendsHandled(c)))
            figures.sent += sent
            if handled > sent { violation("\(context): client \(c) sent \(sent) without reply, \(handled) handled") }
            lost += max(0, sent - handled)
        }
        figures.sendsLost += lost
        if lost > (killServer ? 1 : 0) {
            violation("\(context): \(lost) requests without reply never handled")
        }
        board.serverStopAll.pointee.store(1, ordering: .relaxed)
        for server in servers { _ = finalLine(of: server, ["done"], context) }

        let serverDied = board.value(board.serverDied)
        figures.serverDied += serverDied
        figures.retried += board.value(board.retried)
        if serverDied > 0 {
            if !killServer {
                violation("\(context): \(serverDied) serverDied reports, but no server died")
            } else if serverDied > 1 {
                violation("\(context): \(serverDied) serverDied reports for one server death")
            } else {
                let at = board.value(board.serverDiedAt)
                let elapsed = (at - Int(killedAt.uptimeNanoseconds)) / 1_000_000
                figures.slowestReportMilliseconds = max(figures.slowestReportMilliseconds, elapsed)
                if elapsed > 1000 || elapsed < 0 {
                    violation("\(context): serverDied reported \(elapsed) ms after the kill (timeout 30 s)")
                }
            }
        }
        if board.value(board.retried) != serverDied {
            violation("\(context): \(serverDied) serverDied, \(board.value(board.retried)) retries answered")
        }
        let clientGone = board.value(board.clientGone)
        figures.clientGone += clientGone
        if clientGone > 0 && killServer {
            violation("\(context): \(clientGone) responses found the client gone, but no client died")
        }
        let torn = board.value(board.tornResponses) + board.value(board.tornRequests)
        let misrouted = board.value(board.misrouted)
        let badStreams = board.value(board.badStreams)
        let other = board.value(board.otherErrors)
        figures.responses += board.value(board.responses)
        figures.torn += torn
        figures.misrouted += misrouted
        figures.badStreams += badStreams
        if torn > 0 { violation("\(context): \(torn) torn requests or responses") }
        if misrouted > 0 { violation("\(context): \(misrouted) responses answered another request") }
        if badStreams > 0 { violation("\(context): \(badStreams) streams of the wrong length") }
        if other > 0 { violation("\(context): \(other) unexpected errors; \(children.map(\.lines))") }
        figures.iterations += 1
    }
    return figures
}
