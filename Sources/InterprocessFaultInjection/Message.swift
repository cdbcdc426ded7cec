/// The 64-byte message the channel scenarios send: who sent it, its number in that sender's
/// sequence, a body derived from both, and a checksum over all of it.
///
/// A receiver that finds the checksum wrong got a torn message (half of one write, half of
/// another); one that finds a (producer, sequence) pair twice got a duplicate.
struct FaultMessage: BitwiseCopyable {
    var producer: UInt32
    var reserved: UInt32
    var sequence: UInt64
    var body: (UInt64, UInt64, UInt64, UInt64, UInt64)
    var checksum: UInt64

    init(producer: Int, sequence: Int) {
        self.producer = UInt32(producer)
        self.reserved = 0x5AFE
        self.sequence = UInt64(sequence)
        let key = UInt64(producer) << 48 ^ UInt64(sequence)
        body = (
            FaultMessage.mix(key &+ 1), FaultMessage.mix(key &+ 2), FaultMessage.mix(key &+ 3),
            FaultMessage.mix(key &+ 4), FaultMessage.mix(key &+ 5)
        )
        checksum = 0
        checksum = computeChecksum()
    }

    static func mix(_ x: UInt64) -> UInt64 {
        // splitmix64's finaliser: every input bit reaches every output bit.
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func computeChecksum() -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for word in [UInt64(producer) << 32 | UInt64(reserved), sequence, body.0, body.1, body.2, body.3, body.4] {
            h = FaultMessage.mix(h ^ word)
        }
        return h
    }

    /// Whether every byte is the one the sender wrote.
    var isIntact: Bool {
        checksum == computeChecksum() && reserved == 0x5AFE
            && self.body.0 == FaultMessage(producer: Int(producer), sequence: Int(sequence)).body.0
    }
}
