/// Where every byte of a blackboard's payload lives: the one definition its writer, its readers,
/// inspection, the tests and the fuzzer use (`@_spi(Layout) import Interprocess`).
///
/// ## Kind parameters (header offset 152)
/// `[0]` the key capacity, `[1]` the value space in 64-byte units; the payload is exactly
/// ``payloadSize`` bytes of the geometry they give.
///
/// ## Payload (kind layout version 1)
/// | offset | size | what |
/// |---:|---:|---|
/// | 0 | 4 | key count: directory entries `0..<count` are complete (release-stored by the writer after it wrote an entry) |
/// | 8 | 8 | writer generation: bumped by each writer that takes the role (display only) |
/// | 64 | 8 | the keys' `WaiterGatedWake` (word, sleepers): bumped after a key is added |
/// | 128 | 192 × capacity | the directory, one ``entrySize``-byte entry per key |
/// | ``valueArea`` | value space | the keys' slots, each at its entry's slot offset |
///
/// ## A directory entry (written once, before the key count covers it)
/// | offset | size | what |
/// |---:|---:|---|
/// | 0 | 4 | key name length (1...``maximumKeyNameLength``) |
/// | 4 | 4 | value type name length (0...``ElementType/maximumNameLength``) |
/// | 8 | 4×3 | value size, stride, alignment |
/// | 24 | 8 | slot offset in the value area (a multiple of 64) |
/// | 32 | 48 | key name (UTF-8, zero-padded) |
/// | 80 | 64 | value type name (UTF-8, zero-padded) |
///
/// ## A slot: a seqlock over two buffers
/// | offset | size | what |
/// |---:|---:|---|
/// | 0 | 8 | published version *v* (0: no value yet); the value of version *v* is in buffer *v* mod 2 |
/// | 8 | 8 | the key's `WaiterGatedWake` (word, sleepers): bumped after a write that finds a sleeper |
/// | 16 | 8×2 | the version each buffer holds (its stamp) |
/// | 64 | 2 × buffer | buffers 0 and 1, each the value's size rounded up to 64 bytes |
///
/// The writer writes version *v* + 1 into the buffer that is *not* published, stamps it, and
/// only then publishes it by storing *v* + 1; a reader copies the published buffer and accepts
/// the copy only if the published version is unchanged after it and equals the buffer's stamp.
/// A writer that dies mid-write leaves the published buffer untouched.
@_spi(Layout)
public struct BlackboardLayout: Sendable, Hashable {
    // The control block.
    public static let keyCount = 0
    public static let writerGeneration = 8
    public static let keysChanged = 64
    public static let directory = 128
    // A directory entry.
    public static let entrySize = 192
    public static let entryNameLength = 0, entryTypeNameLength = 4
    public static let entryValueSize = 8, entryValueStride = 12, entryValueAlignment = 16
    public static let entrySlotOffset = 24, entryName = 32, entryTypeName = 80
    /// The longest key name, in bytes of UTF-8.
    public static let maximumKeyNameLength = 48
    // A slot.
    public static let slotVersion = 0
    public static let slotChange = 8
    public static let slotStamps = 16
    public static let slotHeaderSize = 64
    /// The largest value alignment a slot's buffers satisfy.
    public static let maximumValueAlignment = 64

    /// The writer role's lock byte (see `ObjectLocks`): held while a writer is open.
    public static let writerLockByte = HeaderLayout.endpointLockBase

    /// The key capacity.
    public let keyCapacity: Int
    /// The value area's size in bytes.
    public let valueSpace: Int

    /// The layout of `configuration` (assumed valid).
    init(configuration: BlackboardConfiguration) {
        keyCapacity = configuration.keyCapacity
        valueSpace = configuration.valueSpace
    }

    /// The layout the header's kind parameters describe, or `nil` if they are out of bounds.
    public init?(kindParameters: [UInt32]) {
        guard kindParameters.count >= 2 else { return nil }
        let configuration = BlackboardConfiguration(
            keyCapacity: Int(kindParameters[0]), valueSpace: Int(kindParameters[1]) * 64)
        guard configuration.problem == nil else { return nil }
        self.init(configuration: configuration)
    }

    /// The configuration this layout was made from.
    public var configuration: BlackboardConfiguration {
        BlackboardConfiguration(keyCapacity: keyCapacity, valueSpace: valueSpace)
    }

    /// The kind parameters recorded in the header.
    var kindParameters: [UInt32] { [UInt32(keyCapacity), UInt32(valueSpace / 64)] }

    /// Where the value area starts.
    public var valueArea: Int { BlackboardLayout.directory + keyCapacity * BlackboardLayout.entrySize }
    /// The payload's size.
    public var payloadSize: Int { valueArea + valueSpace }

    /// The offset of directory entry `i`.
    public func entry(_ i: Int) -> Int { BlackboardLayout.directory + i * BlackboardLayout.entrySize }

    /// The size of each of a slot's buffers for a value of `size` bytes.
    public static func bufferSize(valueSize size: Int) -> Int { (max(size, 1) + 63) / 64 * 64 }
    /// The bytes a slot for a value of `size` bytes takes.
    public static func slotSize(valueSize size: Int) -> Int { slotHeaderSize + 2 * bufferSize(valueSize: size) }
}
