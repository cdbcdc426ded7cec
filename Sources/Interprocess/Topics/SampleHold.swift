/// What a sample holds, for the typed and the byte sample alike: the message's place and what
/// the subscriber knew of it, and the hazard (or history copy) that keeps that place the
/// sample's. Dropping it releases the hazard.
// @unchecked: the address is into the topic's mapping (or a history copy), which `core` (or
// `history`) keeps alive; nobody writes there while the hold lasts.
struct SampleHold: ~Copyable, @unchecked Sendable {
    let core: TopicSubscriberCore
    let hazard: Int
    let address: UnsafeRawPointer
    /// Keeps a history copy alive (history messages are copied when a subscriber joins).
    let history: TopicSubscriberCore.HistoryMessage?
    let pending: TopicSubscriberCore.Pending

    init(core: TopicSubscriberCore, pending: TopicSubscriberCore.Pending, history: TopicSubscriberCore.HistoryMessage?)
    {
        self.core = core
        self.hazard = pending.hazard
        self.address = pending.pointer
        self.history = history
        self.pending = pending
    }

    deinit { if hazard >= 0 { core.releaseHazard(hazard) } }
}
