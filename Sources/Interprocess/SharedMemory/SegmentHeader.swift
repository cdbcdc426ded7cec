import Synchronization

/// Where every fact of a segment's header lives: byte offsets from the start of the file.
///
/// The one definition of the header's layout, used by ``SegmentHeader``, the lock map
/// (`ObjectLocks`), the participant table, and by the tests and the fuzzer that forge headers
/// (`@_spi(Layout) import Interprocess`). Not part of the public API.
///
/// ## Layout (version 3)
/// Offsets are fixed; every multi-byte field is in the machine's byte order (segments are not
/// shared between machines). The header occupies one page so the payload starts page-aligned:
/// every element alignment up to 4096 is satisfied at offset 0 of the payload.
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 8 | magic `"IPCSEG\0\u{1}"` |
/// | 8 | 4 | state word (atomic; see `SegmentHeader.State`) |
/// | 12 | 4 | header layout version (this table's) |
/// | 16 | 4 | header size (4096) |
/// | 20 | 4 | object kind |
/// | 24 | 8 | total size (header + payload, page-rounded) |
/// | 32 | 8 | payload size in bytes |
/// | 40 | 8 | capacity (elements, for typed objects) |
/// | 48 | 4 | creator pid |
/// | 52 | 4 | flags: bit 0 set for ``SharedMemory/Lifetime/removedWithLastUser``; other bits 0 |
/// | 56 | 8 | creator start time (clock ticks after boot) |
/// | 64 | 8 | creation time (ns since the UNIX epoch; display only) |
/// | 72 | 4×4 | element size, stride, alignment, name length |
/// | 88 | 64 | element type name (UTF-8, zero-padded) |
/// | 152 | 32 | kind parameters (meaning per kind) |
/// | 184 | 4 | the kind's payload layout version (see ``ObjectKind/layoutVersion``) |
/// | 188 | 4 | reserved, zero |
/// | 192 | 8 | FNV-1a checksum of bytes 0..<192 with the state word read as 0 |
/// | 1024 | 64 | role and removal lock bytes: only their OFD locks matter (see `ObjectLocks`), the contents stay zero |
/// | 1088 | 3008 | participant table, 47 slots of 64 bytes (see `ParticipantTable`) |
///
/// Two versions, two scopes. The header layout version (offset 12) covers this table only; the
/// kind layout version (offset 184) covers the payload of the kind at offset 20, so a change of
/// one kind's payload (a channel ring, say) bumps that kind's version and leaves every other
/// kind, and the header, alone. Version 3 is the header that records the kind layout version;
/// version 2 had no such field and carried the channel ring's change in the header version.
///
/// The checksum makes a header whose bytes were overwritten a typed error instead of a
/// plausible-looking segment: every size and count an opener uses comes from these bytes.
@_spi(Layout)
public enum HeaderLayout {
    /// The header's size: the payload starts at this offset, page-aligned.
    public static let size = 4096
    /// The header layout version this build reads and writes (offset ``version``).
    public static let currentVersion: UInt32 = 3

    // The fields (see the table above).
    public static let magic = 0, state = 8, version = 12, headerSize = 16, kind = 20
    public static let totalSize = 24, payloadSize = 32, capacity = 40
    public static let creatorPID = 48, flags = 52, creatorStart = 56, creationTime = 64
    public static let elementSize = 72, elementStride = 76, elementAlignment = 80, elementNameLength = 84
    public static let elementName = 88, kindParameters = 152, kindLayoutVersion = 184, checksum = 192
    /// How many kind parameters (UInt32 each) the header holds.
    public static let kindParameterCount = 8
    /// The checksum covers bytes `0..<checksummedBytes`, with the state word read as 0.
    public static let checksummedBytes = checksum
    /// The state word's bytes, which the checksum reads as 0 (the word changes after it).
    public static let stateBytes = state..<(state + 4)

    // The lock area (see `ObjectLocks`): bytes whose OFD locks carry meaning, contents zero.
    /// The single sender's role lock (SPSC channels).
    public static let senderRoleByte = 1024
    /// The single receiver's role lock (SPSC channels).
    public static let receiverRoleByte = 1025
    /// The removal lock.
    public static let removalByte = 1026
    /// The first byte of the lock area: every lock of the header lies in `lockArea..<size`.
    public static let lockArea = senderRoleByte

    /// The participant table's first slot (see `ParticipantTable`); each slot's first byte is
    /// also its lock byte.
    public static let participantTable = 1088
    /// The size of a participant-table slot: one cache line.
    public static let participantSlotSize = 64
    /// The participant table's slots: as many as fit before the end of the header (47).
    public static let participantSlotCount = (size - participantTable) / participantSlotSize

    /// Where the presence bytes begin: far beyond any file's end, so that the locks never touch
    /// bytes anyone reads (a lock may lie past the end of a file).
    public static let presenceBase: Int64 = 1 << 40
    /// The presence bytes of one role: role *r* owns `presenceBase + r·presenceSpan` and the
    /// `presenceSpan − 1` bytes after it (see `ObjectLocks`).
    public static let presenceSpan: Int64 = 1 << 24

    /// The presence bytes of `role`.
    public static func presenceRange(of role: ParticipantRole) -> (start: Int64, length: Int64) {
        (presenceBase + Int64(role.rawValue) * presenceSpan, presenceSpan)
    }

    /// The FNV-1a checksum of a header's first ``checksummedBytes`` bytes, reading the state
    /// word as zero: the value stored at ``checksum``.
    ///
    /// - Precondition: `header` holds at least ``checksummedBytes`` bytes.
    public static func checksum(of header: UnsafeRawBufferPointer) -> UInt64 {
        precondition(header.count >= checksummedBytes, "a header holds \(checksummedBytes) checksummed bytes")
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<checksummedBytes {
            let byte: UInt8 = stateBytes.contains(i) ? 0 : header[i]
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// The header at the start of every segment: what it is, who made it, and whether it is ready.
///
/// Reads and writes the fields at the offsets of ``HeaderLayout``, where the layout and its
/// versions are described.
struct SegmentHeader {
    static let magic: UInt64 = 0x0100_4745_5343_5049  // "IPCSEG\0\u{1}" little-endian
    static let layoutVersion: UInt32 = HeaderLayout.currentVersion
    static let size = HeaderLayout.size
    static let checksummedBytes = HeaderLayout.checksummedBytes

    /// The values of the state word.
    ///
    /// The state word is written only by the creator: `initializing` first, `ready` **last**,
    /// with release ordering, after every other header field and the payload. An opener that
    /// reads `ready` with acquire ordering therefore sees the whole initialised object. Openers
    /// waiting for `ready` sleep on the word as a futex in short slices and re-check the
    /// creator's liveness between them: the creator makes no wake call (Interprocess links an
    /// object under its name only once it is ready, so only other writers of the format, or a
    /// creator that died, leave openers waiting).
    enum State: UInt32 {
        case uninitialized = 0
        case initializing = 1
        case ready = 2
        /// Set by a process that found the object unusable and wants others to stop using it.
        case poisoned = 3
    }

    /// The field offsets.
    typealias Offset = HeaderLayout

    /// The values a creator writes.
    struct Fields: Equatable {
        var kind: ObjectKind
        var totalSize: Int
        var payloadSize: Int
        var capacity: Int
        var creator: ProcessIdentity
        var creationTime: Int64
        var elementType: ElementType
        var kindParameters: [UInt32]  // up to `HeaderLayout.kindParameterCount`
        /// The layout version of the kind's payload (``ObjectKind/layoutVersion`` when this
        /// build writes it).
        var kindLayoutVersion: UInt32
        var lifetime: SharedMemory.Lifetime = .persistent
    }

    /// Header flag bits.
    enum Flag {
        static let removedWithLastUser: UInt32 = 1
        static let known: UInt32 = removedWithLastUser
    }

    let base: UnsafeMutableRawPointer

    /// The state word, a futex word openers sleep on while it reads `initializing`.
    var stateWord: FutexWord { FutexWord(at: base + Offset.state) }

    /// The state word as an atomic.
    var state: UnsafeMutablePointer<Atomic<UInt32>> { stateWord.atomic }

    /// Writes every field except the state word, then the checksum. The caller publishes the
    /// header by storing `.ready` afterwards.
    func write(_ f: Fields) {
        base.storeBytes(of: SegmentHeader.magic, toByteOffset: Offset.magic, as: UInt64.self)
        base.storeBytes(of: SegmentHeader.layoutVersion, toByteOffset: Offset.version, as: UInt32.self)
        base.storeBytes(of: UInt32(SegmentHeader.size), toByteOffset: Offset.headerSize, as: UInt32.self)
        base.storeBytes(of: f.kind.rawValue, toByteOffset: Offset.kind, as: UInt32.self)
        base.storeBytes(of: UInt64(f.totalSize), toByteOffset: Offset.totalSize, as: UInt64.self)
        base.storeBytes(of: UInt64(f.payloadSize), toByteOffset: Offset.payloadSize, as: UInt64.self)
        base.storeBytes(of: UInt64(f.capacity), toByteOffset: Offset.capacity, as: UInt64.self)
        base.storeBytes(of: f.creator.pid, toByteOffset: Offset.creatorPID, as: Int32.self)
        let flags: UInt32 = f.lifetime == .removedWithLastUser ? Flag.removedWithLastUser : 0
        base.storeBytes(of: flags, toByteOffset: Offset.flags, as: UInt32.self)
        base.storeBytes(of: f.creator.startTime, toByteOffset: Offset.creatorStart, as: UInt64.self)
        base.storeBytes(of: f.creationTime, toByteOffset: Offset.creationTime, as: Int64.self)
        base.storeBytes(of: UInt32(f.elementType.size), toByteOffset: Offset.elementSize, as: UInt32.self)
        base.storeBytes(of: UInt32(f.elementType.stride), toByteOffset: Offset.elementStride, as: UInt32.self)
        base.storeBytes(of: UInt32(f.elementType.alignment), toByteOffset: Offset.elementAlignment, as: UInt32.self)
        let name = Array(f.elementType.name.utf8.prefix(ElementType.maximumNameLength))
        base.storeBytes(of: UInt32(name.count), toByteOffset: Offset.elementNameLength, as: UInt32.self)
        (base + Offset.elementName).initializeMemory(as: UInt8.self, repeating: 0, count: ElementType.maximumNameLength)
        name.withUnsafeBytes { (base + Offset.elementName).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        for i in 0..<Offset.kindParameterCount {
            let value = i < f.kindParameters.count ? f.kindParameters[i] : 0
            base.storeBytes(of: value, toByteOffset: Offset.kindParameters + 4 * i, as: UInt32.self)
        }
        base.storeBytes(of: f.kindLayoutVersion, toByteOffset: Offset.kindLayoutVersion, as: UInt32.self)
        base.storeBytes(of: computeChecksum(), toByteOffset: Offset.checksum, as: UInt64.self)
    }

    /// The checksum of the header as it is now (see ``HeaderLayout/checksum(of:)``).
    func computeChecksum() -> UInt64 {
        HeaderLayout.checksum(of: UnsafeRawBufferPointer(start: base, count: HeaderLayout.checksummedBytes))
    }

    /// Reads and validates the header of a mapping of `mappedBytes` bytes.
    ///
    /// Everything here is untrusted input from another process: each field is range-checked
    /// before it is used, and no value read here is used as an offset without a bound.
    /// Does not look at the state word; the caller has established `ready` first.
    func read(name: String, mappedBytes: Int) throws(SharedMemoryError) -> Fields {
        guard mappedBytes >= SegmentHeader.size else {
            throw .invalidHeader(name: name, .truncated(expectedBytes: SegmentHeader.size, actualBytes: mappedBytes))
        }
        let stored = base.load(fromByteOffset: Offset.checksum, as: UInt64.self)
        guard stored == computeChecksum() else {
            throw .invalidHeader(name: name, .corrupt("checksum mismatch"))
        }
        let headerSize = Int(base.load(fromByteOffset: Offset.headerSize, as: UInt32.self))
        guard headerSize == SegmentHeader.size else {
            throw .invalidHeader(name: name, .corrupt("header size \(headerSize)"))
        }
        let total = base.load(fromByteOffset: Offset.totalSize, as: UInt64.self)
        let payload = base.load(fromByteOffset: Offset.payloadSize, as: UInt64.self)
        let capacity = base.load(fromByteOffset: Offset.capacity, as: UInt64.self)
        // `total >= headerSize` first, so that `total - headerSize` cannot overflow on a
        // (checksummed, hence deliberate) total smaller than the header.
        guard total <= UInt64(Int.max), total >= UInt64(headerSize), payload <= total - UInt64(headerSize),
            capacity <= UInt64(Int.max)
        else {
            throw .invalidHeader(name: name, .corrupt("sizes out of range (total \(total), payload \(payload))"))
        }
        guard Int(total) <= mappedBytes else {
            throw .invalidHeader(name: name, .truncated(expectedBytes: Int(total), actualBytes: mappedBytes))
        }
        let flags = base.load(fromByteOffset: Offset.flags, as: UInt32.self)
        guard flags & ~Flag.known == 0 else {
            throw .invalidHeader(name: name, .corrupt("unknown flags \(String(flags, radix: 16))"))
        }
        let nameLength = Int(base.load(fromByteOffset: Offset.elementNameLength, as: UInt32.self))
        guard nameLength <= ElementType.maximumNameLength else {
            throw .invalidHeader(name: name, .corrupt("element name length \(nameLength)"))
        }
        let nameBytes = UnsafeRawBufferPointer(start: base + Offset.elementName, count: nameLength)
        let element = ElementType(
            name: String(decoding: nameBytes, as: UTF8.self),
            size: Int(base.load(fromByteOffset: Offset.elementSize, as: UInt32.self)),
            stride: Int(base.load(fromByteOffset: Offset.elementStride, as: UInt32.self)),
            alignment: Int(base.load(fromByteOffset: Offset.elementAlignment, as: UInt32.self)))
        return Fields(
            kind: ObjectKind(rawValue: base.load(fromByteOffset: Offset.kind, as: UInt32.self)),
            totalSize: Int(total), payloadSize: Int(payload), capacity: Int(capacity),
            creator: creator,
            creationTime: base.load(fromByteOffset: Offset.creationTime, as: Int64.self),
            elementType: element,
            kindParameters: (0..<Offset.kindParameterCount).map {
                base.load(fromByteOffset: Offset.kindParameters + 4 * $0, as: UInt32.self)
            },
            kindLayoutVersion: base.load(fromByteOffset: Offset.kindLayoutVersion, as: UInt32.self),
            lifetime: flags & Flag.removedWithLastUser != 0 ? .removedWithLastUser : .persistent)
    }

    var magicValue: UInt64 { base.load(fromByteOffset: Offset.magic, as: UInt64.self) }
    var versionValue: UInt32 { base.load(fromByteOffset: Offset.version, as: UInt32.self) }
    var creator: ProcessIdentity {
        ProcessIdentity(
            pid: base.load(fromByteOffset: Offset.creatorPID, as: Int32.self),
            startTime: base.load(fromByteOffset: Offset.creatorStart, as: UInt64.self))
    }
}
