/// A 64-byte test message: who sent it, its sequence number, payload words derived from both,
/// and a checksum over all of them, so a torn or half-written message is detected.
///
/// The test peer's channel roles send and receive it; the multi-process tests, on the other
/// end of the same channels, check it.
package struct ChannelTestMessage: BitwiseCopyable, Equatable {
    package var producer: UInt64
    package var sequence: UInt64
    package var payload: (UInt64, UInt64, UInt64, UInt64, UInt64)
    package var checksum: UInt64

    /// Payload word `i` of message (`producer`, `sequence`).
    package static func word(_ producer: UInt64, _ sequence: UInt64, _ i: UInt64) -> UInt64 {
        (producer &* 0x9E37_79B9_7F4A_7C15) ^ (sequence &* 0xBF58_476D_1CE4_E5B9) ^ (i &* 0x94D0_49BB_1331_11EB)
    }

    /// The intact message `sequence` of `producer`.
    package init(producer: UInt64, sequence: UInt64) {
        self.producer = producer
        self.sequence = sequence
        let w = { ChannelTestMessage.word(producer, sequence, $0) }
        payload = (w(1), w(2), w(3), w(4), w(5))
        checksum = 0
        checksum = computedChecksum
    }

    /// The checksum the other fields imply.
    package var computedChecksum: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in [producer, sequence, payload.0, payload.1, payload.2, payload.3, payload.4] {
            h = (h ^ v) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        return h
    }

    /// Whether every field is what its (producer, sequence) implies.
    package var isIntact: Bool { self == ChannelTestMessage(producer: producer, sequence: sequence) }

    package static func == (a: Self, b: Self) -> Bool {
        a.producer == b.producer && a.sequence == b.sequence && a.payload.0 == b.payload.0
            && a.payload.1 == b.payload.1 && a.payload.2 == b.payload.2 && a.payload.3 == b.payload.3
            && a.payload.4 == b.payload.4 && a.checksum == b.checksum
    }
}
