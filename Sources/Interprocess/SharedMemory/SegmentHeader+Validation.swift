// What an opener and an inspector check of a mapped header before trusting any of it.

extension SegmentHeader {
    /// Refuses a regular file with fewer bytes allocated than its page-rounded length: its holes
    /// would be allocated on first touch, and on a full file system that touch is a `SIGBUS`
    /// (long after the open). Interprocess creates every file fully allocated
    /// (`posix_fallocate`), so a sparse one was made by something else.
    static func checkFullyAllocated(_ status: FileStatus, name: String) throws(SharedMemoryError) {
        guard status.isRegularFile else { return }
        let length = status.size
        let page = FileSystem.pageSize
        let (sum, overflow) = length.addingReportingOverflow(page - 1)
        let rounded = overflow ? Int.max : sum / page * page
        let allocated = status.allocatedBytes
        guard allocated >= rounded else {
            throw .notFullyAllocated(name: name, allocatedBytes: allocated, length: length)
        }
    }

    /// Validates a mapped header: magic, version, state (waiting for `ready` until
    /// `deadline`), checksum and sizes, then kind, element type and capacity against
    /// `expected`.
    func validated(
        name: String, mappedBytes: Int, expected: SharedMemory.Layout?, deadline: Deadline
    ) throws(SharedMemoryError) -> Fields {
        let header = self
        guard header.magicValue == SegmentHeader.magic else { throw .invalidHeader(name: name, .badMagic) }
        guard header.versionValue == SegmentHeader.layoutVersion else {
            throw .invalidHeader(
                name: name, .unsupportedVersion(found: header.versionValue, supported: SegmentHeader.layoutVersion))
        }
        try waitUntilReady(name: name, deadline: deadline)
        let fields = try header.read(name: name, mappedBytes: mappedBytes)
        guard let expected, !expected.acceptsAnyKind else { return fields }
        guard fields.kind == expected.kind else {
            throw .mismatch(name: name, .kind(expected: expected.kind, found: fields.kind))
        }
        guard fields.kindLayoutVersion == fields.kind.layoutVersion else {
            throw .invalidHeader(
                name: name,
                .unsupportedKindLayoutVersion(
                    kind: fields.kind, found: fields.kindLayoutVersion, supported: fields.kind.layoutVersion))
        }
        guard fields.elementType == expected.elementType else {
            throw .mismatch(name: name, .elementType(expected: expected.elementType, found: fields.elementType))
        }
        if expected.checksCapacity && fields.capacity != expected.capacity {
            throw .mismatch(name: name, .capacity(expected: expected.capacity, found: fields.capacity))
        }
        // The payload must hold what the kind needs: a hostile header must not make us read
        // past the mapping.
        let minimumPayload = expected.kind == .segment ? 0 : expected.minimumPayload(capacity: fields.capacity)
        guard fields.payloadSize >= minimumPayload else {
            throw .invalidHeader(
                name: name, .corrupt("payload of \(fields.payloadSize) bytes for capacity \(fields.capacity)"))
        }
        return fields
    }

    /// Waits for the state word to read `ready`.
    ///
    /// Segments Interprocess creates are published only once ready (see "Creation is
    /// atomic"), so this waits only for segments made by other writers of the format, or for
    /// a creator that died (`creatorDiedDuringInitialization`).
    func waitUntilReady(name: String, deadline: Deadline) throws(SharedMemoryError) {
        let header = self
        while true {
            // SYNC POINT: pairs with the creator's releasing store of `.ready` in `build`; after
            // it every header field and the payload's initial contents are visible.
            let raw = header.state.pointee.load(ordering: .acquiring)
            switch SegmentHeader.State(rawValue: raw) {
            case .ready?:
                return
            case .poisoned?:
                throw .invalidHeader(name: name, .corrupt("marked unusable (poisoned)"))
            case .uninitialized?, .initializing?:
                let creator = header.creator
                if !creator.isAlive { throw .creatorDiedDuringInitialization(name: name, creator: creator) }
                if deadline.hasPassed { throw .stillInitializing(name: name) }
                // Sleep on the state word, in slices, so a creator that dies without waking us
                // is noticed within 10 ms.
                let slice = min(deadline, Deadline.after(.milliseconds(10)))
                _ = header.stateWord.wait(expecting: raw, deadline: slice)
            case nil:
                throw .invalidHeader(name: name, .corrupt("state word \(raw)"))
            }
        }
    }
}
