/// One message of the channel demo: its sequence number and its send time.
struct DemoMessage: BitwiseCopyable {
    var sequence: UInt64
    /// `CLOCK_MONOTONIC` in nanoseconds when the producer sent it.
    var sentAt: UInt64
}
