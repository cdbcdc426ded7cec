/// The capacities (in messages) of the channels every channel benchmark creates.
package enum ChannelCapacity {
    /// Each of the two `UInt64` channels of a round trip (one message is in flight at a time).
    package static let roundTrip = 256
    /// The ``Message64`` channel of a stream.
    package static let stream = 256
    /// The channel of the in-process benchmark that sends and receives on one thread (the
    /// ring never fills: one message is in it at a time).
    package static let sendReceive = 1024
}
