/// Sequence numbers with a special meaning in the benchmarks' messages.
package enum BenchMarker {
    /// The end of a round-trip run or of a stream (`word1` of the end message carries the count
    /// sent).
    package static let end = UInt64.max
    /// The first message of a stream that is timed (64-byte messages).
    package static let firstTimed64: UInt64 = 2000
    /// The first message of a stream that is timed (1 MiB messages).
    package static let firstTimed1M: UInt64 = 16
}
