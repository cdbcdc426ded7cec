/// A byte-channel test message: producer and sequence (8 bytes each, little-endian), then
/// `sequence % 37` bytes derived from both, so messages vary in length and a torn or misplaced
/// one is detected.
///
/// The test peer's byte-channel roles send and receive it; the multi-process tests check it.
package enum ByteTestMessage {
    /// The bytes of message `sequence` of `producer`.
    package static func bytes(producer: UInt64, sequence: UInt64) -> [UInt8] {
        var result: [UInt8] = []
        for word in [producer, sequence] {
            for i in 0..<8 { result.append(UInt8(truncatingIfNeeded: word >> (8 * i))) }
        }
        for i in 0..<(sequence % 37) { result.append(UInt8(truncatingIfNeeded: producer &* 31 &+ sequence &+ i)) }
        return result
    }

    /// The (producer, sequence) of an intact message, or `nil`.
    package static func parse(_ bytes: [UInt8]) -> (producer: UInt64, sequence: UInt64)? {
        guard bytes.count >= 16 else { return nil }
        func word(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        let (producer, sequence) = (word(0), word(8))
        return bytes == Self.bytes(producer: producer, sequence: sequence) ? (producer, sequence) : nil
    }
}
