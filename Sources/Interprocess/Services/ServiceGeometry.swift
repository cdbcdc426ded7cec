/// Where everything of a service's payload lives: computed from the header's checksummed kind
/// parameters (never from the payload, which any participant can overwrite), checked against
/// the mapping before any address is used.
///
/// ## Kind parameters (``ObjectKind/service``)
/// | [0] | [1] | [2] | [3] | [4] | [5] | [6] | [7] |
/// |---|---|---|---|---|---|---|---|
/// | servers S | clients C | requests per client R | response capacity D | request size | request alignment | response size | response alignment |
///
/// The header's element type is the request type's; the response type's identity is in the
/// payload's identity block, written at creation and checked by every opener.
///
/// ## Payload
/// | offset | what | written by |
/// |---:|---|---|
/// | 0 | `requests`: the wake words idle servers sleep on | clients (bump), servers (sleepers) |
/// | 128 | the response type: name length, size, stride, alignment (UInt32 each), name (64 bytes) | the creator |
/// | 256 | the pending bitmap: bit *j* set while client *j* may have a request no server took | clients set, servers clear |
/// | … | S server records, 128 B: `state` UInt32 (0 never opened, 1 open, 2 closed), `generation` UInt32 | that server |
/// | … | C client records, 256 B: `state` UInt32 (0 free, 1 active), `generation` UInt32; `responses` (the wake words the client sleeps on) at 128; `consumed` (the wake words a server waiting for the client to read sleeps on) at 192 | that client; servers bump |
/// | … | C × R request slots (``ServiceLayout/slotSize``), client-major | see ``ServiceSlot`` |
///
/// A request slot: `state` (UInt64, see ``ServiceSlot``) and `tail` (UInt64, the end of the
/// response ring when no server writes it) at 0; the request at ``ServiceLayout/requestOffset``
/// (16, or its alignment), on the state's line; `head` (UInt64, the client's position in the
/// ring) at ``ServiceLayout/headOffset``, on a 128-byte block of its own; D response entries from
/// ``ServiceLayout/entriesOffset``, each: `sequence` UInt64 (position + 1 once published),
/// `kind` UInt32, the response at ``ServiceLayout/entryPayloadOffset``.
///
/// A change of anything here bumps ``ObjectKind/service``'s ``ObjectKind/layoutVersion``.
package struct ServiceGeometry: Equatable, Sendable {
    package var servers: Int
    package var clients: Int
    package var requestsPerClient: Int
    package var responseCapacity: Int
    package var requestSize: Int
    package var requestAlignment: Int
    package var responseSize: Int
    package var responseAlignment: Int

    package static let maximumEndpoints = 1 << 16
    package static let maximumRequestsPerClient = 64
    package static let maximumResponseCapacity = 1 << 16
    /// The largest request or response (1 MiB) and the largest alignment (4 KiB).
    package static let maximumMessageSize = 1 << 20
    package static let maximumAlignment = 1 << 12

    // Offsets (see the table above).
    static let requestWake = 0
    static let identity = 128, identityNameLength = 0, identitySize = 4, identityStride = 8, identityAlignment = 12
    static let identityName = 16
    static let bitmap = 256
    static let serverRecordSize = 128, serverState = 0, serverGeneration = 4
    static let clientRecordSize = 256, clientState = 0, clientGeneration = 4, responseWake = 128, consumedWake = 192
    static let slotState = 0, slotTail = 8
    static let entrySequence = 0, entryKind = 8
    /// Words written by different sides are 128 bytes apart (two cache lines: the
    /// adjacent-line prefetcher couples 64-byte neighbours).
    static let block = 128

    package init(configuration c: ServiceConfiguration, request: ElementType, response: ElementType) {
        self.init(
            servers: c.maximumServers, clients: c.maximumClients, requestsPerClient: c.requestsPerClient,
            responseCapacity: c.responseCapacity, requestSize: request.size, requestAlignment: request.alignment,
            responseSize: response.size, responseAlignment: response.alignment)
    }

    package init(
        servers: Int, clients: Int, requestsPerClient: Int, responseCapacity: Int, requestSize: Int,
        requestAlignment: Int, responseSize: Int, responseAlignment: Int
    ) {
        self.servers = servers
        self.clients = clients
        self.requestsPerClient = requestsPerClient
        self.responseCapacity = responseCapacity
        self.requestSize = requestSize
        self.requestAlignment = requestAlignment
        self.responseSize = responseSize
        self.responseAlignment = responseAlignment
    }

    /// The geometry a header records, or `nil` if it has too few parameters. Nothing is checked
    /// yet: see ``layout(payloadBytes:)``.
    package init?(kindParameters p: [UInt32]) {
        guard p.count >= 8 else { return nil }
        self.init(
            servers: Int(p[0]), clients: Int(p[1]), requestsPerClient: Int(p[2]), responseCapacity: Int(p[3]),
            requestSize: Int(p[4]), requestAlignment: Int(p[5]), responseSize: Int(p[6]),
            responseAlignment: Int(p[7]))
    }

    /// The header's kind parameters (see the table above).
    package var kindParameters: [UInt32] {
        [
            servers, clients, requestsPerClient, responseCapacity, requestSize, requestAlignment, responseSize,
            responseAlignment
        ].map { UInt32(truncatingIfNeeded: $0) }
    }

    /// The configuration this geometry was made from.
    package var configuration: ServiceConfiguration {
        ServiceConfiguration(
            maximumClients: clients, maximumServers: servers, requestsPerClient: requestsPerClient,
            responseCapacity: responseCapacity)
    }

    /// The computed offsets, or `nil` if the geometry is out of bounds, overflows, or does not
    /// fit in `payloadBytes`. The header is another process's data: check this before using an
    /// address.
    package func layout(payloadBytes: Int) -> ServiceLayout? {
        func isAlignment(_ a: Int) -> Bool { a >= 1 && a <= ServiceGeometry.maximumAlignment && a & (a - 1) == 0 }
        guard (1...ServiceGeometry.maximumEndpoints).contains(servers),
            (1...ServiceGeometry.maximumEndpoints).contains(clients),
            (1...ServiceGeometry.maximumRequestsPerClient).contains(requestsPerClient),
            (1...ServiceGeometry.maximumResponseCapacity).contains(responseCapacity),
            responseCapacity & (responseCapacity - 1) == 0,
            (0...ServiceGeometry.maximumMessageSize).contains(requestSize),
            (0...ServiceGeometry.maximumMessageSize).contains(responseSize),
            isAlignment(requestAlignment), isAlignment(responseAlignment)
        else { return nil }
        // Every value above is bounded (2^16 clients · 64 requests · a slot of at most
        // 2^16 · (2^20 + 2^13) + 2^21 bytes): the checked arithmetic guards the products.
        // The request starts on the state word's line: a server that reads the state reads the
        // (start of the) request with it.
        let requestOffset = max(16, requestAlignment)
        let headOffset = (requestOffset + max(1, requestSize)).roundedUp(to: ServiceGeometry.block)
        let entryPayloadOffset = max(16, responseAlignment)
        let entryStride = (entryPayloadOffset + responseSize).roundedUp(to: max(64, responseAlignment))
        let entriesOffset = (headOffset + 8).roundedUp(to: max(ServiceGeometry.block, responseAlignment))
        let (entries, o0) = entryStride.multipliedReportingOverflow(by: responseCapacity)
        let slotAlignment = max(ServiceGeometry.block, requestAlignment, responseAlignment)
        let slotSize = (entriesOffset + entries).roundedUp(to: slotAlignment)
        let bitmapBytes = (8 * ((clients + 63) / 64)).roundedUp(to: ServiceGeometry.block)
        let serverRecords = ServiceGeometry.bitmap + bitmapBytes
        let clientRecords = serverRecords + servers * ServiceGeometry.serverRecordSize
        let slotsStart = (clientRecords + clients * ServiceGeometry.clientRecordSize).roundedUp(to: slotAlignment)
        let (slotCount, o1) = clients.multipliedReportingOverflow(by: requestsPerClient)
        let (slotBytes, o2) = slotCount.multipliedReportingOverflow(by: slotSize)
        let (end, o3) = slotsStart.addingReportingOverflow(slotBytes)
        guard !o0, !o1, !o2, !o3, end <= payloadBytes else { return nil }
        return ServiceLayout(
            serverRecords: serverRecords, clientRecords: clientRecords, slots: slotsStart, slotSize: slotSize,
            requestOffset: requestOffset, headOffset: headOffset, entriesOffset: entriesOffset,
            entryStride: entryStride,
            entryPayloadOffset: entryPayloadOffset, payloadSize: end)
    }
}

/// A service's payload offsets, computed by ``ServiceGeometry/layout(payloadBytes:)``.
package struct ServiceLayout: Equatable, Sendable {
    package var serverRecords: Int
    package var clientRecords: Int
    package var slots: Int
    package var slotSize: Int
    /// Within a slot: the request, the first response entry.
    package var requestOffset: Int
    /// Within a slot: the client's `head` (its own 128-byte block).
    package var headOffset: Int
    package var entriesOffset: Int
    package var entryStride: Int
    /// Within an entry: the response.
    package var entryPayloadOffset: Int
    /// The payload bytes the service needs.
    package var payloadSize: Int
}
