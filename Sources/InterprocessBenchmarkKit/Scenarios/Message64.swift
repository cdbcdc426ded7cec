/// The 64-byte message of every throughput workload (`shm bench`'s streams and the in-process
/// channel benchmarks); the sequence number is its first 8 bytes.
package struct Message64: BitwiseCopyable, Equatable, Sendable {
    package var sequence: UInt64 = 0
    package var word1: UInt64 = 0
    package var word2: UInt64 = 0
    package var word3: UInt64 = 0
    package var word4: UInt64 = 0
    package var word5: UInt64 = 0
    package var word6: UInt64 = 0
    package var word7: UInt64 = 0

    /// A message whose every word but `sequence` is zero.
    package init(sequence: UInt64 = 0) { self.sequence = sequence }
}
