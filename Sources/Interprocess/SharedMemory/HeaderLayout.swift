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
/// | 256 | 8 | participant-table change word and its sleeper count (atomic, outside the checksum; see `ParticipantTable`) |
/// | 1024 | 64 | role and removal lock bytes: only their OFD locks matter (see `ObjectLocks`), the contents stay zero |
/// | 1088 | 3008 | participant table, 47 slots of 64 bytes (see `ParticipantTable`) |
///
/// Two versions, two scopes. The header layout version (offset 12) covers this table only; the
/// kind layout version (offset 184) covers the payload of the kind at offset 20, so a change of
/// one kind's payload (a channel ring, say) bumps that kind's version and leaves every other
/// kind, and the header, alone. Version 3 is the header that records the kind layout version;
/// version 2 had no such field and carried the channel ring's change in the header version.
///
/// Bytes 200..<1024 other than the change word are zero and unread. The change word took unused
/// bytes that every creator leaves zero, so it needs no new version: a process of a build that
/// does not bump it only leaves its own registrations unannounced (a wait set then finds them
/// as it did before the word existed, at its next timed check).
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
    /// The participant table's change word (a `WaiterGatedWake` pair: the sequence at this
    /// offset, its sleeper count after it), on a cache line of its own: every registration and
    /// deregistration bumps it (see `ParticipantTable.announceChange()`).
    public static let participantsChanged = 256
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

    /// Where the endpoint locks of objects with bounded roles begin: the first role's slot *p*
    /// holds `endpointLockBase + p`, the second role's slot *j* `endpointLockBase + 2³² + j`,
    /// each while its endpoint is open (a topic's publishers and subscribers, a service's
    /// servers and clients). Below the presence bytes, beyond any file's end.
    public static let endpointLockBase: Int64 = 1 << 39

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
