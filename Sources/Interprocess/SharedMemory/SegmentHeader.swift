import Synchronization

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
