import Foundation
import Interprocess

/// One object as `shm ls --json` (each of `result.objects`) and `shm inspect --json` (`result`)
/// print it.
///
/// The keys are stable: every key is always present (`null` when not applicable) and the
/// encoder sorts them. Exactly one of `header` and `error` is `null`.
struct ObjectReport: Encodable {
    let name: String
    let path: String
    let fileSize: Int
    /// The permission bits in octal, `"0600"`.
    let mode: String
    let ownerUserID: UInt32
    let header: HeaderReport?
    let error: String?
    let participants: [ParticipantReport]
    let channel: ChannelReport?
    let topic: TopicReport?
    let service: ServiceReport?
    /// A blackboard's configuration, writer and keys (`null` for other kinds).
    let blackboard: BlackboardReport?
    /// Live registrations by role ("opener", "sender", "receiver", "publisher", "subscriber"), counted from the kernel's
    /// locks: they include registrations the participant table had no slot for.
    let liveRegistrations: [String: Int]
    /// Whether a live process holds any lock on the object (what `shm clean` checks).
    let inUse: Bool
    /// Whether the participant table's slots are all taken.
    let participantTableFull: Bool

    struct ParticipantReport: Encodable {
        let slot: Int
        let role: String
        let pid: Int32
        let startTime: UInt64
        let alive: Bool
        /// ISO 8601, UTC.
        let registered: String
    }

    struct ChannelReport: Encodable {
        let topology: String
        let capacity: Int
        let depth: Int
        let closed: Bool
        let openSenders: Int
        let openReceivers: Int
        let liveSenders: Int
        let liveReceivers: Int
        let maximumMessageSize: Int?

        enum CodingKeys: String, CodingKey {
            case topology, capacity, depth, closed, openSenders, openReceivers, liveSenders, liveReceivers
            case maximumMessageSize
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(topology, forKey: .topology)
            try c.encode(capacity, forKey: .capacity)
            try c.encode(depth, forKey: .depth)
            try c.encode(closed, forKey: .closed)
            try c.encode(openSenders, forKey: .openSenders)
            try c.encode(openReceivers, forKey: .openReceivers)
            try c.encode(liveSenders, forKey: .liveSenders)
            try c.encode(liveReceivers, forKey: .liveReceivers)
            try c.encode(maximumMessageSize, forKey: .maximumMessageSize)  // null for typed channels
        }
    }

    /// A blackboard's configuration, writer and keys (`shm inspect --json`'s `result.blackboard`).
    struct BlackboardReport: Encodable {
        let keyCapacity: Int
        let valueSpace: Int
        let valueSpaceUsed: Int
        /// Whether a live process holds the writer role (from its lock).
        let writer: Bool
        let writerGeneration: UInt64
        let keys: [Key]
        /// Why the key listing stopped early, or `null`.
        let problem: String?

        struct Key: Encodable {
            let name: String
            let type: ElementTypeReport
            /// The version of the key's value (0: none yet).
            let version: UInt64
        }

        enum CodingKeys: String, CodingKey {
            case keyCapacity, valueSpace, valueSpaceUsed, writer, writerGeneration, keys, problem
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(keyCapacity, forKey: .keyCapacity)
            try c.encode(valueSpace, forKey: .valueSpace)
            try c.encode(valueSpaceUsed, forKey: .valueSpaceUsed)
            try c.encode(writer, forKey: .writer)
            try c.encode(writerGeneration, forKey: .writerGeneration)
            try c.encode(keys, forKey: .keys)
            try c.encode(problem, forKey: .problem)  // null when every entry was read
        }

        init(_ state: BlackboardState) {
            keyCapacity = state.configuration.keyCapacity
            valueSpace = state.configuration.valueSpace
            valueSpaceUsed = state.valueSpaceUsed
            writer = state.hasWriter
            writerGeneration = state.writerGeneration
            keys = state.keys.map {
                Key(
                    name: $0.name,
                    type: ElementTypeReport(
                        name: $0.valueType.name, size: $0.valueType.size, stride: $0.valueType.stride,
                        alignment: $0.valueType.alignment), version: $0.version)
            }
            problem = state.problem
        }
    }

    /// A topic's configuration and slots (`shm inspect --json`'s `result.topic`).
    struct TopicReport: Encodable {
        let capacity: Int
        let maximumSubscribers: Int
        let maximumPublishers: Int
        let history: Int
        /// "block" or "drop-oldest".
        let overflow: String
        let maximumHeldSamples: Int
        let maximumLoans: Int
        let maximumMessageSize: Int
        let livePublishers: Int
        let liveSubscribers: Int
        /// The slots ever opened or held, by slot.
        let publishers: [PublisherReport]
        /// The slots not free or held, by slot.
        let subscribers: [SubscriberReport]

        struct PublisherReport: Encodable {
            let slot: Int
            /// "never opened", "open", "closed" or "invalid (N)".
            let state: String
            let alive: Bool
            /// The messages published through the slot since the topic was created.
            let nextSequence: UInt64
        }

        struct SubscriberReport: Encodable {
            let slot: Int
            /// "free", "active", "leaving" or "invalid (N)".
            let state: String
            let active: Bool
            let alive: Bool
            /// Messages queued and not taken yet, over every publisher.
            let lag: Int
            /// Messages dropped before they were taken (drop-oldest), over the slot's lifetime.
            let missed: Int
        }

        init(_ state: TopicState) {
            let c = state.configuration
            capacity = c.capacity
            maximumSubscribers = c.maximumSubscribers
            maximumPublishers = c.maximumPublishers
            history = c.history
            overflow = c.overflow.description
            maximumHeldSamples = c.maximumHeldSamples
            maximumLoans = c.maximumLoans
            maximumMessageSize = state.maximumMessageSize
            livePublishers = state.livePublishers
            liveSubscribers = state.liveSubscribers
            publishers = state.publishers.map {
                PublisherReport(
                    slot: $0.slot, state: $0.state.description, alive: $0.isAlive, nextSequence: $0.nextSequence)
            }
            subscribers = state.subscribers.map {
                SubscriberReport(
                    slot: $0.slot, state: $0.state.description, active: $0.isActive, alive: $0.isAlive, lag: $0.lag,
                    missed: $0.missed)
            }
        }
    }

    struct HeaderReport: Encodable {
        let kind: String
        let kindRawValue: UInt32
        let layoutVersion: UInt32
        let kindLayoutVersion: UInt32
        let totalSize: Int
        let payloadSize: Int
        let capacity: Int
        let elementType: ElementTypeReport?
        let creator: CreatorReport
        /// ISO 8601, UTC.
        let created: String
        let creationTimeNanoseconds: Int64
        let kindParameters: [UInt32]
        /// "persistent" or "removedWithLastUser".
        let lifetime: String

        enum CodingKeys: String, CodingKey {
            case kind, kindRawValue, layoutVersion, kindLayoutVersion, totalSize, payloadSize, capacity, elementType,
                creator
            case created, creationTimeNanoseconds, kindParameters, lifetime
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(kindRawValue, forKey: .kindRawValue)
            try c.encode(layoutVersion, forKey: .layoutVersion)
            try c.encode(kindLayoutVersion, forKey: .kindLayoutVersion)
            try c.encode(totalSize, forKey: .totalSize)
            try c.encode(payloadSize, forKey: .payloadSize)
            try c.encode(capacity, forKey: .capacity)
            try c.encode(elementType, forKey: .elementType)  // null for untyped objects
            try c.encode(creator, forKey: .creator)
            try c.encode(created, forKey: .created)
            try c.encode(creationTimeNanoseconds, forKey: .creationTimeNanoseconds)
            try c.encode(kindParameters, forKey: .kindParameters)
            try c.encode(lifetime, forKey: .lifetime)
        }
    }

    struct ElementTypeReport: Encodable {
        let name: String
        let size: Int
        let stride: Int
        let alignment: Int
    }

    /// A service's configuration, slots and requests (`shm inspect --json`'s `result.service`).
    struct ServiceReport: Encodable {
        let maximumClients: Int
        let maximumServers: Int
        let requestsPerClient: Int
        let responseCapacity: Int
        let liveServers: Int
        let liveClients: Int
        /// Requests no server took yet.
        let waitingRequests: Int
        /// Requests servers are handling.
        let requestsInFlight: Int
        let servers: [EndpointReport]
        let clients: [EndpointReport]

        struct EndpointReport: Encodable {
            let slot: Int
            let state: String
            let alive: Bool
            let waiting: Int
            let inFlight: Int
        }

        init(_ state: ServiceState) {
            let c = state.configuration
            maximumClients = c.maximumClients
            maximumServers = c.maximumServers
            requestsPerClient = c.requestsPerClient
            responseCapacity = c.responseCapacity
            liveServers = state.liveServers
            liveClients = state.liveClients
            waitingRequests = state.waitingRequests
            requestsInFlight = state.requestsInFlight
            let report = { (e: ServiceState.Endpoint) in
                EndpointReport(slot: e.slot, state: e.state, alive: e.isAlive, waiting: e.waiting, inFlight: e.inFlight)
            }
            servers = state.servers.map(report)
            clients = state.clients.map(report)
        }
    }

    struct CreatorReport: Encodable {
        let pid: Int32
        let startTime: UInt64
        let alive: Bool
    }

    enum CodingKeys: String, CodingKey {
        case name, path, fileSize, mode, ownerUserID, header, error, participants, channel, topic, service
        case liveRegistrations, inUse, participantTableFull
        case blackboard
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(path, forKey: .path)
        try c.encode(fileSize, forKey: .fileSize)
        try c.encode(mode, forKey: .mode)
        try c.encode(ownerUserID, forKey: .ownerUserID)
        try c.encode(header, forKey: .header)  // null when broken
        try c.encode(error, forKey: .error)  // null when intact
        try c.encode(participants, forKey: .participants)
        try c.encode(channel, forKey: .channel)  // null for objects that are not channels
        try c.encode(topic, forKey: .topic)  // null for objects that are not topics
        try c.encode(service, forKey: .service)  // null for objects that are not services
        try c.encode(blackboard, forKey: .blackboard)  // null for objects that are not blackboards
        try c.encode(liveRegistrations, forKey: .liveRegistrations)
        try c.encode(inUse, forKey: .inUse)
        try c.encode(participantTableFull, forKey: .participantTableFull)
    }

    init(_ info: SharedObjectInfo) {
        participants = info.participants.map {
            ParticipantReport(
                slot: $0.slot, role: $0.role.description, pid: $0.process.pid, startTime: $0.process.startTime,
                alive: $0.isAlive, registered: Format.isoDate(nanoseconds: $0.registeredAtNanoseconds))
        }
        channel = info.channel.map { state in
            ChannelReport(
                topology: state.topology.description, capacity: state.capacity, depth: state.depth,
                closed: state.isClosed, openSenders: state.openSenders, openReceivers: state.openReceivers,
                liveSenders: info.liveRegistrations[.sender] ?? 0,
                liveReceivers: info.liveRegistrations[.receiver] ?? 0,
                maximumMessageSize: state.maximumMessageSize)
        }
        topic = info.topic.map(TopicReport.init)
        service = info.service.map(ServiceReport.init)
        blackboard = info.blackboard.map(BlackboardReport.init)
        liveRegistrations = Dictionary(
            uniqueKeysWithValues: info.liveRegistrations.map { ($0.key.description, $0.value) })
        inUse = info.isInUse
        participantTableFull = info.participantTableIsFull
        name = info.name
        path = info.path
        fileSize = info.fileSize
        mode = Format.mode(Int(info.permissions.rawValue))
        ownerUserID = info.ownerUserID
        switch info.header {
        case .success(let h):
            header = HeaderReport(
                kind: h.kind.description, kindRawValue: h.kind.rawValue, layoutVersion: h.layoutVersion,
                kindLayoutVersion: h.kindLayoutVersion, totalSize: h.totalSize, payloadSize: h.payloadSize,
                capacity: h.capacity,
                elementType: h.elementType == .none
                    ? nil
                    : ElementTypeReport(
                        name: h.elementType.name, size: h.elementType.size, stride: h.elementType.stride,
                        alignment: h.elementType.alignment),
                creator: CreatorReport(pid: h.creator.pid, startTime: h.creator.startTime, alive: h.creatorIsAlive),
                created: Format.isoDate(nanoseconds: h.creationTimeNanoseconds),
                creationTimeNanoseconds: h.creationTimeNanoseconds, kindParameters: h.kindParameters,
                lifetime: h.lifetime == .persistent ? "persistent" : "removedWithLastUser")
            error = nil
        case .failure(let e):
            header = nil
            error = e.description
        }
    }
}
