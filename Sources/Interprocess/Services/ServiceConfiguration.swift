/// The fixed shape of a request-response service, chosen when it is created.
///
/// Every bound is part of the service's shared memory: the number of clients and servers that
/// can take part at once, the requests each client can have in flight, and how many responses
/// a server can have written ahead of a client that reads a stream of them.
public struct ServiceConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// Clients that can take part at once (1...65 536); one more fails with
    /// ``ServiceError/endpointLimitReached(_:maximum:)``. A dead client's slot is reused.
    public var maximumClients: Int
    /// Servers that can take part at once (1...65 536); they share the requests.
    public var maximumServers: Int
    /// Requests one client can have in flight at once (1...64): waiting for responses, or
    /// sent without a reply and not handled yet.
    public var requestsPerClient: Int
    /// Responses a server can write ahead of the client reading them, per request (a power of
    /// two in 1...65 536). A server streaming more waits for the client to read.
    public var responseCapacity: Int

    /// A configuration; the defaults suit a few clients making one request at a time.
    public init(
        maximumClients: Int = 16, maximumServers: Int = 4, requestsPerClient: Int = 4, responseCapacity: Int = 4
    ) {
        self.maximumClients = maximumClients
        self.maximumServers = maximumServers
        self.requestsPerClient = requestsPerClient
        self.responseCapacity = responseCapacity
    }

    /// What is wrong with this configuration, or `nil`.
    var problem: String? {
        if !(1...ServiceGeometry.maximumEndpoints).contains(maximumClients) {
            return "a service has 1...\(ServiceGeometry.maximumEndpoints) clients"
        }
        if !(1...ServiceGeometry.maximumEndpoints).contains(maximumServers) {
            return "a service has 1...\(ServiceGeometry.maximumEndpoints) servers"
        }
        if !(1...ServiceGeometry.maximumRequestsPerClient).contains(requestsPerClient) {
            return "a client has 1...\(ServiceGeometry.maximumRequestsPerClient) requests in flight"
        }
        if !(1...ServiceGeometry.maximumResponseCapacity).contains(responseCapacity)
            || responseCapacity & (responseCapacity - 1) != 0
        {
            return "a response capacity is a power of two in 1...\(ServiceGeometry.maximumResponseCapacity)"
        }
        return nil
    }

    public var description: String {
        "\(maximumClients) clients, \(maximumServers) servers, \(requestsPerClient) requests per client, "
            + "\(responseCapacity) responses ahead"
    }
}
