/// The fixed dimensions of a blackboard, chosen by its creator.
///
/// A blackboard's keys are added at runtime by its writer, up to ``keyCapacity``; each key's
/// value takes ``BlackboardConfiguration/bytesNeeded(forValueOfSize:)`` bytes of
/// ``valueSpace`` (a header line and two buffers, so that a reader never sees a value being
/// written). Neither can change after creation.
public struct BlackboardConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// The most keys the blackboard can ever hold (1 to ``maximumKeyCapacity``).
    public var keyCapacity: Int
    /// The bytes available to the keys' values, a multiple of 64 (1 to ``maximumValueSpace``).
    public var valueSpace: Int

    /// The largest ``keyCapacity``.
    public static let maximumKeyCapacity = 1 << 16
    /// The largest ``valueSpace``: 1 GiB.
    public static let maximumValueSpace = 1 << 30

    /// A blackboard of `keyCapacity` keys with `valueSpace` bytes for their values; by default
    /// room for `keyCapacity` values of up to 64 bytes each.
    public init(keyCapacity: Int, valueSpace: Int? = nil) {
        self.keyCapacity = keyCapacity
        let (space, overflow) = keyCapacity.multipliedReportingOverflow(
            by: BlackboardConfiguration.bytesNeeded(forValueOfSize: 64))
        self.valueSpace = valueSpace ?? (overflow ? Int.max : space)
    }

    /// The bytes of ``valueSpace`` a key whose value has `size` bytes takes: a 64-byte line of
    /// version words and two buffers of `size` rounded up to 64 bytes.
    public static func bytesNeeded(forValueOfSize size: Int) -> Int {
        BlackboardLayout.slotSize(valueSize: size)
    }

    /// Why this configuration cannot make a blackboard, or `nil` if it can.
    var problem: String? {
        if keyCapacity < 1 || keyCapacity > Self.maximumKeyCapacity {
            return "the key capacity must be 1...\(Self.maximumKeyCapacity), not \(keyCapacity)"
        }
        if valueSpace < 64 || valueSpace > Self.maximumValueSpace || valueSpace % 64 != 0 {
            return "the value space must be a multiple of 64 in 64...\(Self.maximumValueSpace), not \(valueSpace)"
        }
        return nil
    }

    public var description: String { "\(keyCapacity) keys, \(valueSpace) bytes of values" }
}
