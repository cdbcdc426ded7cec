import Synchronization

/// One request slot of a client: its state word, its request, and the ring of responses to it.
///
/// ## The state word (UInt64)
/// | bits 61–63 | bit 60 | bits 48–59 | bits 32–47 | bits 0–31 |
/// |---|---|---|---|---|
/// | phase | no reply | round | server slot | server generation |
///
/// Phases, and who moves them (every move a compare-and-swap, so each has exactly one winner):
/// - `free` → `submitted` (the client, after writing the request; a new round);
/// - `submitted` → `claimed` by server *s* of generation *g* (a server: the request is its);
///   `submitted` → `free` (the client withdraws a request no server took);
/// - `claimed` → `cancelled` (the client gave the request up: the server stops);
/// - `claimed` → `free` (the server, after the last entry, or done with a request without
///   reply); `claimed`/`cancelled` → `done` (the server ended without a last entry; the ring's
///   `tail` word is current);
/// - `free` or `claimed` → `submitted` of the next round, by a plain store: the client, after
///   reading the last entry (the server's late exchange from `claimed` then fails);
/// - `done` → `free` (the client recycles the slot), or any phase whose server is dead → `free`.
///
/// The round (bumped by every submit) makes each request's words unique: a server's late
/// exchange for one request can never match the slot's next request.
///
/// ## The response ring
/// D entries; position *t* is at entry *t* mod D, published by storing `t + 1` in its sequence
/// (releasing, after its kind and response). Only the server holding the claim writes entries;
/// only the client moves `head` (releasing, once it read an entry). Positions run on across
/// requests; the claiming server starts at the slot's `tail` word, which the previous writer
/// stored before giving the slot up.
struct ServiceSlot {
    let base: UnsafeMutableRawPointer
    let shape: Shape

    /// The offsets inside every slot of a service, from its checked ``ServiceLayout``: a slot
    /// handle is made per operation and handed around, so it carries these few words rather
    /// than the whole layout.
    struct Shape {
        let requestOffset: Int32
        let headOffset: Int32
        let entriesOffset: Int32
        let entryStride: Int32
        let entryPayloadOffset: Int32
        /// The ring's capacity D (a power of two).
        let capacity: UInt32

        /// `nil` if an offset does not fit in 32 bits; never for a checked layout, whose
        /// offsets here are each below 2^22 (a message is at most 2^20 bytes, an alignment at
        /// most 2^12).
        init?(_ layout: ServiceLayout, capacity: Int) {
            guard let request = Int32(exactly: layout.requestOffset), let head = Int32(exactly: layout.headOffset),
                let entries = Int32(exactly: layout.entriesOffset), let stride = Int32(exactly: layout.entryStride),
                let payload = Int32(exactly: layout.entryPayloadOffset), let capacity = UInt32(exactly: capacity)
            else { return nil }
            (requestOffset, headOffset, entriesOffset, entryStride) = (request, head, entries, stride)
            (entryPayloadOffset, self.capacity) = (payload, capacity)
        }
    }

    var capacity: UInt64 { UInt64(shape.capacity) }

    enum Phase: UInt64 {
        case free = 0
        case submitted = 1
        case claimed = 2
        case cancelled = 3
        case done = 4
    }

    /// A decoded state word.
    struct State: Equatable {
        var raw: UInt64
        init(raw: UInt64) { self.raw = raw }
        init(phase: Phase, noReply: Bool = false, round: UInt64, server: Int = 0, generation: UInt32 = 0) {
            raw =
                phase.rawValue << 61 | (noReply ? 1 << 60 : 0) | (round & 0xFFF) << 48
                | UInt64(UInt16(truncatingIfNeeded: server)) << 32 | UInt64(generation)
        }
        /// `nil` for a phase no participant writes.
        var phase: Phase? { Phase(rawValue: raw >> 61) }
        var noReply: Bool { raw & (1 << 60) != 0 }
        var round: UInt64 { (raw >> 48) & 0xFFF }
        var server: Int { Int((raw >> 32) & 0xFFFF) }
        var generation: UInt32 { UInt32(truncatingIfNeeded: raw) }

        func with(phase: Phase) -> State {
            State(raw: raw & ~(7 << 61) | phase.rawValue << 61)
        }
    }

    var state: UnsafeMutablePointer<Atomic<UInt64>> { atomic(ServiceGeometry.slotState) }
    var tail: UnsafeMutablePointer<Atomic<UInt64>> { atomic(ServiceGeometry.slotTail) }
    var head: UnsafeMutablePointer<Atomic<UInt64>> { atomic(Int(shape.headOffset)) }
    var request: UnsafeMutableRawPointer { base + Int(shape.requestOffset) }

    func entry(_ position: UInt64) -> UnsafeMutableRawPointer {
        base + Int(shape.entriesOffset) + Int(truncatingIfNeeded: position & (capacity - 1)) * Int(shape.entryStride)
    }
    func entrySequence(_ position: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (entry(position) + ServiceGeometry.entrySequence).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    func entryKind(_ position: UInt64) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (entry(position) + ServiceGeometry.entryKind).assumingMemoryBound(to: Atomic<UInt32>.self)
    }
    func response(_ position: UInt64) -> UnsafeMutableRawPointer { entry(position) + Int(shape.entryPayloadOffset) }

    /// Whether the entry at `position` is published (acquiring: its kind and response, written
    /// before the releasing store of its sequence, are visible after).
    func isPublished(_ position: UInt64) -> Bool {
        // SYNC POINT: acquiring; pairs with the releasing store in `ServiceServerCore.push`.
        entrySequence(position).pointee.load(ordering: .acquiring) == position &+ 1
    }

    /// The end of what was published from `position` on: at most `capacity` entries that say
    /// "published at my position" (a dead server's, whatever a corrupt slot holds).
    func publishedEnd(from position: UInt64) -> UInt64 {
        var end = position
        for _ in 0..<capacity {
            guard isPublished(end) else { break }
            end &+= 1
        }
        return end
    }

    /// Compare-and-swap of the state word (acquiring and releasing: every move hands the slot's
    /// contents from one side to the other).
    func exchange(_ expected: State, _ desired: State) -> (exchanged: Bool, found: State) {
        let (exchanged, found) = state.pointee.compareExchange(
            expected: expected.raw, desired: desired.raw, ordering: .acquiringAndReleasing)
        return (exchanged, State(raw: found))
    }

    /// The state word (acquiring: pairs with the exchanges).
    func load() -> State { State(raw: state.pointee.load(ordering: .acquiring)) }

    /// Whether a request waits here for a server (relaxed: a hint; a claim's exchange decides).
    var isSubmitted: Bool { State(raw: state.pointee.load(ordering: .relaxed)).phase == .submitted }

    private func atomic(_ offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
}

/// What a response entry says.
@usableFromInline
enum ResponseKind: UInt32 {
    /// A response; more follow.
    case more = 0
    /// The last response.
    case last = 1
    /// No more responses (after a stream), no response with it.
    case end = 2
    /// The server dropped the request without finishing it.
    case dropped = 3
}
