import Synchronization

/// A snapshot of a service's shared state, for inspection: its configuration, its server and
/// client slots with their liveness, and the requests in flight.
///
/// Everything but the configuration comes from words any participant can write: liveness comes
/// from the kernel's locks on the slots, never from the words, and a state word no participant
/// writes is counted as such.
public struct ServiceState: Sendable, Hashable {
    /// The service's configuration (from its checksummed header).
    public let configuration: ServiceConfiguration
    /// The server slots that were ever opened or are held by a live process, by slot.
    public let servers: [Endpoint]
    /// The client slots that are active or held by a live process, by slot.
    public let clients: [Endpoint]

    /// One server or client slot.
    public struct Endpoint: Sendable, Hashable {
        /// The slot's index.
        public let slot: Int
        /// What its state word says: "open", "closed", "active", "free", or "invalid (N)".
        public let state: String
        /// Whether a live process holds the slot's lock.
        public let isAlive: Bool
        /// Clients: requests waiting for a server. Servers: 0.
        public let waiting: Int
        /// Clients: requests a server is handling (or was, when it died). Servers: the requests
        /// this slot's server is handling, over every client.
        public let inFlight: Int
    }

    /// The servers whose process holds their slot.
    public var liveServers: Int { servers.count(where: \.isAlive) }
    /// The clients whose process holds their slot.
    public var liveClients: Int { clients.count(where: \.isAlive) }
    /// Requests no server took yet, over every client.
    public var waitingRequests: Int { clients.reduce(0) { $0 + $1.waiting } }
    /// Requests servers are handling, over every client.
    public var requestsInFlight: Int { clients.reduce(0) { $0 + $1.inFlight } }

    /// The state of the service described by `header`, read from a read-only mapping of `fd`,
    /// or `nil` if `header` is not a service's, its geometry is out of bounds, or the file is too
    /// small for it.
    static func read(_ header: SharedObjectInfo.Header, fd: Int32, fileSize: Int) -> ServiceState? {
        guard header.kind == .service, let geometry = ServiceGeometry(kindParameters: header.kindParameters),
            let layout = geometry.layout(payloadBytes: min(header.payloadSize, fileSize - SegmentHeader.size))
        else { return nil }
        let length = SegmentHeader.size + layout.payloadSize
        guard let mapping = try? FileSystem.map(fd, length: length, writable: false, pages: .onFirstTouch) else {
            return nil
        }
        defer { FileSystem.unmap(mapping, length: length) }
        let payload = mapping + SegmentHeader.size
        // Relaxed loads throughout: a diagnostic snapshot of words other processes move.
        func word32(_ offset: Int) -> UInt32 {
            (payload + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .relaxed)
        }
        func word64(_ offset: Int) -> UInt64 {
            (payload + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed)
        }
        let liveServers = TopicView.heldBytes(fd, start: ServiceSegment.serverLock(0), count: geometry.servers)
        let liveClients = TopicView.heldBytes(fd, start: ServiceSegment.clientLock(0), count: geometry.clients)
        var handledBy = [Int](repeating: 0, count: geometry.servers)
        var clients: [Endpoint] = []
        for j in 0..<geometry.clients {
            let raw = word32(layout.clientRecords + j * ServiceGeometry.clientRecordSize + ServiceGeometry.clientState)
            let alive = liveClients.contains(j)
            var waiting = 0
            var inFlight = 0
            for k in 0..<geometry.requestsPerClient {
                let slot = layout.slots + (j * geometry.requestsPerClient + k) * layout.slotSize
                let state = ServiceSlot.State(raw: word64(slot + ServiceGeometry.slotState))
                switch state.phase {
                case .submitted?: waiting += 1
                case .claimed?, .cancelled?:
                    inFlight += 1
                    if state.server < geometry.servers { handledBy[state.server] += 1 }
                default: break
                }
            }
            guard raw != 0 || alive || waiting + inFlight > 0 else { continue }
            let described = raw == 0 ? "free" : raw == 1 ? "active" : "invalid (\(raw))"
            clients.append(Endpoint(slot: j, state: described, isAlive: alive, waiting: waiting, inFlight: inFlight))
        }
        var servers: [Endpoint] = []
        for s in 0..<geometry.servers {
            let raw = word32(layout.serverRecords + s * ServiceGeometry.serverRecordSize + ServiceGeometry.serverState)
            let alive = liveServers.contains(s)
            guard raw != 0 || alive else { continue }
            let described = raw == 1 ? "open" : raw == 2 ? "closed" : raw == 0 ? "never opened" : "invalid (\(raw))"
            servers.append(Endpoint(slot: s, state: described, isAlive: alive, waiting: 0, inFlight: handledBy[s]))
        }
        return ServiceState(configuration: geometry.configuration, servers: servers, clients: clients)
    }
}
