/// The fingerprint of an element type, stored in a segment so that a process opening it with a
/// different type (or a differently laid-out type of the same name) is refused.
public struct ElementType: Sendable, Hashable, CustomStringConvertible {
    /// The type's ``StablyNamed/stableName``, or else its fully qualified Swift name, as
    /// `String(reflecting:)` spells it (at most ``maximumNameLength`` bytes kept).
    public let name: String
    /// `MemoryLayout.size`.
    public let size: Int
    /// `MemoryLayout.stride`.
    public let stride: Int
    /// `MemoryLayout.alignment`.
    public let alignment: Int

    /// The longest name kept in a header, in bytes.
    public static let maximumNameLength = 64

    /// The fingerprint of `type`: its ``StablyNamed/stableName`` if it has one, else its
    /// module-qualified name, with its size, stride and alignment.
    ///
    /// - Precondition: a stable name is non-empty and at most ``maximumNameLength`` bytes long
    ///   (it is a constant of the program, and a cut name could match another type's).
    public init<T: BitwiseCopyable>(_ type: T.Type) {
        let name: String
        if let named = type as? any StablyNamed.Type {
            name = named.stableName
            precondition(
                !name.isEmpty && name.utf8.count <= ElementType.maximumNameLength,
                "the stable name of \(String(reflecting: type)) must have 1 to \(ElementType.maximumNameLength) bytes")
        } else {
            name = String(reflecting: type)
        }
        self.init(
            name: name, size: MemoryLayout<T>.size, stride: MemoryLayout<T>.stride,
            alignment: MemoryLayout<T>.alignment)
    }

    /// A fingerprint from its parts (the name is cut to ``maximumNameLength`` bytes on a
    /// character boundary).
    public init(name: String, size: Int, stride: Int, alignment: Int) {
        var kept = name
        while kept.utf8.count > ElementType.maximumNameLength { kept.removeLast() }
        self.name = kept
        self.size = size
        self.stride = stride
        self.alignment = alignment
    }

    /// No element type (raw segments and synchronization objects).
    public static let none = ElementType(name: "", size: 0, stride: 0, alignment: 0)

    public var description: String {
        self == .none ? "none" : "\(name) (size \(size), stride \(stride), alignment \(alignment))"
    }
}
