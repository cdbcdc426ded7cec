// The service roles of the test peer (see main.swift for the protocol with the parent).
//
// Every role works on the service named NAME (created by the parent) of `ServiceTestRequest`s
// and `ServiceTestResponse`s (InterprocessTestSupport): a client checks that every response
// answers its own request (client, sequence, part), so a misrouted or torn one is detected.

import Glibc
import Interprocess
import InterprocessTestSupport

/// The case name of a service error.
func outcome(_ error: ServiceError) -> String {
    switch error {
    case .segment(let inner): "segment." + outcome(inner)
    case .invalidConfiguration: "invalidConfiguration"
    case .endpointLimitReached: "endpointLimitReached"
    case .requestLimitReached: "requestLimitReached"
    case .serverDied: "serverDied"
    case .requestDropped: "requestDropped"
    case .clientGone: "clientGone"
    case .finished: "finished"
    case .cancelled: "cancelled"
    case .corrupt: "corrupt"
    }
}

/// Runs the service role `role`; `false` if `role` is not a service role.
func runServiceRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "service-serve":
        // service-serve NAME SERVER COUNT [options]: open the service as a server, say "ready",
        // answer COUNT requests (COUNT < 0: until killed), say "done COUNT". Options:
        //   hold-at K   take request K (counting from 1), say "holding K", and block until killed
        //   stream N    answer each request with N responses, then the end of the stream
        //               (a response that finds the client gone says "clientGone SEQ" and goes on)
        guard rest.count >= 2 else { fail("usage: service-serve NAME SERVER COUNT [options]", status: 2) }
        let serverID = UInt64(integer(rest[0], "SERVER"))
        let count = integer(rest[1], "COUNT")
        let options = Array(rest.dropFirst(2))
        let holdAt = optionValue("hold-at", in: options)
        let stream = optionValue("stream", in: options)
        var server = try ServiceServer<ServiceTestRequest, ServiceTestResponse>(named: name, mode: .open)
        say("ready")
        var handled = 0
        while count < 0 || handled < count {
            guard let request = try server.receive(timeout: .seconds(60)) else { fail("no request within 60 s") }
            handled += 1
            let value = request.value
            guard value.isIntact else { fail("torn request \(value)") }
            if holdAt == handled {
                say("holding \(handled)")
                blockOnStdin()
                exit(0)
            }
            guard request.expectsResponse else { continue }
            let answered = answer(consume request, value: value, server: serverID, stream: stream)
            switch answered {
            case .success: break
            case .failure(.clientGone): say("clientGone \(value.sequence)")
            case .failure(let error): throw error
            }
        }
        say("done \(handled)")
        return true

    case "service-request":
        // service-request NAME CLIENT COUNT [options]: open the service as a client, say
        // "ready", wait for a line on stdin, send requests 0..<COUNT one at a time (each
        // response must answer it), say "done COUNT" and the servers that answered
        // ("servers S1,S2,…"). Options:
        //   expect-death   a request that fails with serverDied says "serverDied SEQ MS" (the
        //                  milliseconds it waited), then the role goes on with the next request
        guard rest.count >= 2 else { fail("usage: service-request NAME CLIENT COUNT [options]", status: 2) }
        let clientID = UInt64(integer(rest[0], "CLIENT"))
        let count = integer(rest[1], "COUNT")
        let expectDeath = rest.dropFirst(2).contains("expect-death")
        var client = try ServiceClient<ServiceTestRequest, ServiceTestResponse>(named: name)
        say("ready")
        awaitLine()
        var servers: Set<UInt64> = []
        var sequence: UInt64 = 0
        while sequence < UInt64(count) {
            let request = ServiceTestRequest(client: clientID, sequence: sequence)
            let start = Deadline.now
            switch Result(catching: { () throws(ServiceError) in try client.request(request, timeout: .seconds(60)) }) {
            case .success(let response?):
                guard response.answers(request) else { fail("request \(sequence) got \(response)") }
                servers.insert(response.server)
                sequence += 1
            case .success(nil):
                fail("no response to \(sequence) within 60 s")
            case .failure(.serverDied) where expectDeath:
                say("serverDied \(sequence) \(milliseconds(since: start))")
                awaitLine()
            case .failure(let error):
                throw error
            }
        }
        say("done \(count)")
        say("servers " + servers.sorted().map(String.init).joined(separator: ","))
        return true

    case "service-stall":
        // service-stall NAME CLIENT: open the service as a client, submit one request, say
        // "submitted", and never read its responses; block until killed.
        guard rest.count >= 1 else { fail("usage: service-stall NAME CLIENT", status: 2) }
        var client = try ServiceClient<ServiceTestRequest, ServiceTestResponse>(named: name)
        let pending = try client.submit(ServiceTestRequest(client: UInt64(integer(rest[0], "CLIENT")), sequence: 0))
        say("submitted")
        blockOnStdin()
        _ = consume pending
        exit(0)

    default:
        return false
    }
}

/// Answers `request` with one response, or `stream` responses and the end of the stream.
func answer(
    _ request: consuming ServiceRequest<ServiceTestRequest, ServiceTestResponse>, value: ServiceTestRequest,
    server: UInt64, stream: Int?
) -> Result<Void, ServiceError> {
    do throws(ServiceError) {
        if let stream {
            for part in 0..<UInt64(stream) {
                try request.yield(ServiceTestResponse(answering: value, server: server, part: part))
            }
            try request.finish()
        } else {
            try request.respond(ServiceTestResponse(answering: value, server: server))
        }
        return .success(())
    } catch {
        return .failure(error)
    }
}
