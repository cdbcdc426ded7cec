import Interprocess

/// Creating the demo's channel without taking a role in it.
enum ChannelSegment {
    /// Creates the SPSC channel `name` of `DemoMessage`s (failing if it exists), removed with
    /// its last user; the returned segment keeps it until the roles have opened and closed it.
    static func create(_ name: String, capacity: Int) throws(ChannelError) -> SharedMemory {
        // Not a receiver opened and closed: its close would mark the receivers closed, and a
        // producer that filled the channel before the consumer opened would stop there.
        try ChannelReceiver<DemoMessage>.createChannel(
            named: name, capacity: capacity, topology: .singleProducerSingleConsumer, lifetime: .removedWithLastUser)
    }
}
