/// The demo's timings.
struct DemoSettings: Sendable {
    var writingTime: Double
    var count: Int
    var producerDiesAt: Int?

    /// How long the consumer waits for one item (and either role for the mutex) before it
    /// reports an error: ten writing times and five seconds.
    var itemTimeout: Double { 10 * writingTime + 5 }
}
