/// Which sides of a channel may have more than one participant.
public enum ChannelTopology: UInt32, Sendable, Hashable, CustomStringConvertible {
    /// One sender, one receiver: the fastest ring (no atomic read-modify-write on the fast path).
    case singleProducerSingleConsumer = 1
    /// Any number of senders and receivers; each sender's messages arrive in its own order.
    case multiProducerMultiConsumer = 2

    public var description: String {
        switch self {
        case .singleProducerSingleConsumer: "spsc"
        case .multiProducerMultiConsumer: "mpmc"
        }
    }
}
