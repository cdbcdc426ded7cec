/// A key of a blackboard whose value type was checked once, when the handle was made: reading or
/// writing through it costs no lookup and no type check.
///
/// A handle belongs to the ``BlackboardReader`` or ``BlackboardWriter`` that made it (with
/// ``BlackboardReader/key(_:as:)`` or ``BlackboardWriter/addKey(_:as:initialValue:)``); used
/// on another one it is ``BlackboardError/foreignKey(_:)``.
public struct BlackboardKey<Value: BitwiseCopyable>: Sendable, Hashable, CustomStringConvertible {
    /// The key's name.
    public let name: String
    /// The slot's offset in the payload, checked against the layout when the handle was made.
    @usableFromInline let slot: Int
    /// The identity of the handle's maker.
    @usableFromInline let token: UInt64

    init(name: String, slot: Int, token: UInt64) {
        self.name = name
        self.slot = slot
        self.token = token
    }

    public var description: String { "\(name): \(ElementType(Value.self).name)" }
}

/// A value read from a blackboard, with its version.
public struct BlackboardValue<Value: BitwiseCopyable> {
    /// The value.
    public var value: Value
    /// Its version: 1 for the key's first value, one more for each write since. Readers compare
    /// versions to see whether a value changed (``BlackboardReader/waitForChange(of:since:timeout:)-1kitt``).
    public var version: UInt64

    @inlinable
    init(value: Value, version: UInt64) {
        self.value = value
        self.version = version
    }
}

extension BlackboardValue: Sendable where Value: Sendable {}

/// What a blackboard says about one of its keys (a snapshot).
public struct BlackboardKeyInfo: Sendable, Hashable {
    /// The key's name.
    public var name: String
    /// The key's value type.
    public var valueType: ElementType
    /// The version of its value (0: no value yet).
    public var version: UInt64
}
