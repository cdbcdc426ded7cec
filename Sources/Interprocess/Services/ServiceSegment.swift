import Synchronization
import SystemPackage

/// One endpoint's view of a service: its segment (opened by the endpoint itself, so its locks
/// are its own), the geometry checked against the mapping and the message types, and the
/// addresses of every part.
///
/// Every index that reaches an address here was bounds-checked by the caller or comes from the
/// checked geometry; words read from the payload are checked where they are read.
final class ServiceSegment: @unchecked Sendable {
    let segment: SharedMemory
    let geometry: ServiceGeometry
    let layout: ServiceLayout
    let slotShape: ServiceSlot.Shape
    let base: UnsafeMutableRawPointer
    /// Copies of what every request's path reads, from the checked layout (stored, so an
    /// address costs a multiply and an add, not reloads through `geometry` and `layout`).
    let clientCount: Int
    let requestsPerClient: Int
    let slotsBase: UnsafeMutableRawPointer
    let slotSize: Int
    let clientRecordsBase: UnsafeMutableRawPointer
    let scansSlots: Bool

    /// Opens or creates the service `name` with requests of `request` and responses of
    /// `response`.
    init(
        name: String, request: ElementType, response: ElementType, configuration: ServiceConfiguration?,
        mode: SharedMemory.OpenMode, permissions: FilePermissions, lifetime: SharedMemory.Lifetime,
        owners: SharedMemory.OwnerPolicy, timeout: Duration
    ) throws(ServiceError) {
        if let configuration, let problem = configuration.problem { throw .invalidConfiguration(problem) }
        if configuration == nil && mode == .create {
            throw .invalidConfiguration("a configuration is required to create a service")
        }
        let mode: SharedMemory.OpenMode = configuration == nil ? .open : mode
        let created = ServiceGeometry(
            configuration: configuration ?? ServiceConfiguration(), request: request, response: response)
        guard let createdLayout = created.layout(payloadBytes: Int.max) else {
            throw .invalidConfiguration("the service would not fit in memory (or a message type is too large)")
        }
        let layout = SharedMemory.Layout(
            kind: .service, payloadSize: configuration == nil ? 0 : createdLayout.payloadSize,
            capacity: created.requestsPerClient, elementType: request, kindParameters: created.kindParameters,
            checksCapacity: false, lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
                timeout: timeout, registersAsOpener: false,
                // Every word starts at zero (free records and slots, empty rings); the response
                // type's identity is the one thing written before the service is published.
                initialize: { (payload) throws(SharedMemoryError) in
                    ServiceSegment.writeIdentity(response, at: payload.baseAddress!)
                })
        } catch {
            throw .segment(error)
        }
        guard let found = ServiceGeometry(kindParameters: segment.kindParameters),
            let foundLayout = found.layout(payloadBytes: segment.bytes.count)
        else {
            throw .corrupt("the header's service geometry is out of bounds or larger than the segment")
        }
        // The request type was checked with the header; the response type is checked here, then
        // the geometry the header records for both against them.
        guard let recorded = ServiceSegment.readIdentity(at: segment.bytes.baseAddress!) else {
            throw .corrupt("the service's response type is not readable")
        }
        guard recorded == response else {
            throw .segment(.mismatch(name: name, .elementType(expected: response, found: recorded)))
        }
        guard found.responseSize == response.size, found.responseAlignment == response.alignment,
            found.requestSize == request.size, found.requestAlignment == request.alignment
        else {
            throw .corrupt("the service's message geometry does not match its recorded types")
        }
        if let configuration, configuration != found.configuration {
            throw .segment(.mismatch(name: name, .configuration("\(found.configuration), not \(configuration)")))
        }
        guard let shape = ServiceSlot.Shape(foundLayout, capacity: found.responseCapacity) else {
            throw .corrupt("the service's slot offsets are out of range")
        }
        self.segment = segment
        self.geometry = found
        self.layout = foundLayout
        self.slotShape = shape
        self.base = segment.bytes.baseAddress!
        clientCount = found.clients
        requestsPerClient = found.requestsPerClient
        slotsBase = base + foundLayout.slots
        slotSize = foundLayout.slotSize
        clientRecordsBase = base + foundLayout.clientRecords
        scansSlots = found.clients * found.requestsPerClient <= ServiceSegment.directScanLimit
    }

    /// Opens or creates the service `name` for `Request`s and `Response`s.
    static func open<Request: BitwiseCopyable, Response: BitwiseCopyable>(
        _: Request.Type, _: Response.Type, name: String, configuration: ServiceConfiguration?,
        mode: SharedMemory.OpenMode, permissions: FilePermissions, lifetime: SharedMemory.Lifetime,
        owners: SharedMemory.OwnerPolicy, timeout: Duration
    ) throws(ServiceError) -> ServiceSegment {
        try ServiceSegment(
            name: name, request: ElementType(Request.self), response: ElementType(Response.self),
            configuration: configuration, mode: mode, permissions: permissions, lifetime: lifetime, owners: owners,
            timeout: timeout)
    }

    // MARK: - The response type's identity

    static func writeIdentity(_ type: ElementType, at base: UnsafeMutableRawPointer) {
        let block = base + ServiceGeometry.identity
        let name = Array(type.name.utf8)
        block.storeBytes(of: UInt32(name.count), toByteOffset: ServiceGeometry.identityNameLength, as: UInt32.self)
        block.storeBytes(of: UInt32(type.size), toByteOffset: ServiceGeometry.identitySize, as: UInt32.self)
        block.storeBytes(of: UInt32(type.stride), toByteOffset: ServiceGeometry.identityStride, as: UInt32.self)
        block.storeBytes(of: UInt32(type.alignment), toByteOffset: ServiceGeometry.identityAlignment, as: UInt32.self)
        for (i, byte) in name.enumerated() {
            block.storeBytes(of: byte, toByteOffset: ServiceGeometry.identityName + i, as: UInt8.self)
        }
    }

    /// The recorded response type, or `nil` if the block holds no valid name.
    static func readIdentity(at base: UnsafeMutableRawPointer) -> ElementType? {
        let block = UnsafeRawPointer(base + ServiceGeometry.identity)
        let length = Int(block.load(fromByteOffset: ServiceGeometry.identityNameLength, as: UInt32.self))
        guard length <= ElementType.maximumNameLength else { return nil }
        let bytes = (0..<length).map { block.load(fromByteOffset: ServiceGeometry.identityName + $0, as: UInt8.self) }
        guard let name = String(validating: bytes, as: UTF8.self) else { return nil }
        return ElementType(
            name: name, size: Int(block.load(fromByteOffset: ServiceGeometry.identitySize, as: UInt32.self)),
            stride: Int(block.load(fromByteOffset: ServiceGeometry.identityStride, as: UInt32.self)),
            alignment: Int(block.load(fromByteOffset: ServiceGeometry.identityAlignment, as: UInt32.self)))
    }

    // MARK: - Addresses

    var requestWake: WaiterGatedWake { WaiterGatedWake(at: base + ServiceGeometry.requestWake) }

    /// The pending-bitmap word holding client `j`'s bit.
    func pendingWord(_ j: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        atomic(base + ServiceGeometry.bitmap + 8 * (j / 64))
    }
    var pendingWordCount: Int { (geometry.clients + 63) / 64 }

    /// Servers find requests by looking at every request slot's state rather than through the
    /// pending bitmap in a service with at most this many slots.
    ///
    /// A scan of that many state words, each on a line of its own that only its client
    /// writes, costs a server a few L1 hits per look while it finds no request, and a submit
    /// moves one line (the slot's) instead of two (the slot's and the bitmap word's, which
    /// every client and server writes). Computed from the checked geometry, so every
    /// participant agrees on it (``scansSlots``).
    static let directScanLimit = 64

    func serverRecord(_ s: Int) -> UnsafeMutableRawPointer {
        base + layout.serverRecords + s * ServiceGeometry.serverRecordSize
    }
    func clientRecord(_ j: Int) -> UnsafeMutableRawPointer {
        // Wrapping: `j` is below `clientCount` (see the type's notes), so the checked layout
        // bounds the product.
        clientRecordsBase + j &* ServiceGeometry.clientRecordSize
    }
    func responseWake(client j: Int) -> WaiterGatedWake {
        WaiterGatedWake(at: clientRecord(j) + ServiceGeometry.responseWake)
    }
    func consumedWake(client j: Int) -> WaiterGatedWake {
        WaiterGatedWake(at: clientRecord(j) + ServiceGeometry.consumedWake)
    }
    /// Request slot `k` of client `j` (`j` below `clientCount`, `k` below `requestsPerClient`).
    func slot(client j: Int, _ k: Int) -> ServiceSlot {
        // Wrapping: within the checked layout for indices in range, whose products it bounded.
        ServiceSlot(base: slotsBase + (j &* requestsPerClient &+ k) &* slotSize, shape: slotShape)
    }

    func atomic<T: AtomicRepresentable>(_ address: UnsafeMutableRawPointer, _: T.Type = T.self)
        -> UnsafeMutablePointer<Atomic<T>>
    {
        address.assumingMemoryBound(to: Atomic<T>.self)
    }
    func serverState(_ s: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        atomic(serverRecord(s) + ServiceGeometry.serverState)
    }
    func serverGeneration(_ s: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        atomic(serverRecord(s) + ServiceGeometry.serverGeneration)
    }
    func clientState(_ j: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        atomic(clientRecord(j) + ServiceGeometry.clientState)
    }
    func clientGeneration(_ j: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        atomic(clientRecord(j) + ServiceGeometry.clientGeneration)
    }

    // MARK: - Endpoint locks

    /// The lock byte of server slot `s`.
    static func serverLock(_ s: Int) -> Int64 { HeaderLayout.endpointLockBase + Int64(s) }
    /// The lock byte of client slot `j`.
    static func clientLock(_ j: Int) -> Int64 { HeaderLayout.endpointLockBase + (1 << 32) + Int64(j) }

    func claimSlot(count: Int, byte: (Int) -> Int64) throws(ServiceError) -> Int? {
        do { return try segment.claimEndpointSlot(count: count, byte: byte) } catch { throw .segment(error) }
    }

    /// Whether server `s` of generation `generation` is alive: its slot lock is held and the
    /// slot was not taken over since (a failed query counts as alive, see
    /// `SharedMemory.isEndpointHeld`).
    func isServerAlive(_ s: Int, generation: UInt32) -> Bool {
        guard s < geometry.servers else { return false }
        // Relaxed: a successor's generation is written before it takes part; a stale read only
        // delays the verdict to the next check.
        guard serverGeneration(s).pointee.load(ordering: .relaxed) == generation else { return false }
        return segment.isEndpointHeld(ServiceSegment.serverLock(s))
    }

    /// Whether client `j` of generation `generation` is still taking part.
    func isClientAlive(_ j: Int, generation: UInt32) -> Bool {
        // Relaxed, as for servers.
        guard clientGeneration(j).pointee.load(ordering: .relaxed) == generation,
            clientState(j).pointee.load(ordering: .relaxed) == 1
        else { return false }
        return segment.isEndpointHeld(ServiceSegment.clientLock(j))
    }

    /// Whether any server is open and alive (a failed query counts as alive).
    func hasLiveServer() -> Bool {
        for s in 0..<geometry.servers where serverState(s).pointee.load(ordering: .acquiring) == 1 {
            if segment.isEndpointHeld(ServiceSegment.serverLock(s)) { return true }
        }
        return false
    }
}
