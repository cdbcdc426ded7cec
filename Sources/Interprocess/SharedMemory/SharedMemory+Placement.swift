import SystemPackage

extension SharedMemory {
    /// The address of `size` bytes at `offset` in the payload, checked for bounds and alignment.
    ///
    /// Objects placed in a segment laid out by the user (``ProcessMutex/init(in:at:)`` and its
    /// siblings) go through this check, so a wrong offset is a typed error rather than a write
    /// past the mapping.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)``;
    ///   ``SharedMemoryError/readOnly(name:)`` on a read-only segment (every placed object writes
    ///   its storage).
    package func address(at offset: Int, size: Int, alignment: Int) throws(SharedMemoryError) -> UnsafeMutableRawPointer
    {
        try checkWritable()
        return try SharedMemory.address(in: bytes, at: offset, size: size, alignment: alignment)
    }

    /// The address of `size` bytes at `offset` in `payload`, checked for bounds and alignment.
    /// - Throws: ``SharedMemoryError/invalidPlacement(offset:size:reason:)``.
    static func address(
        in payload: UnsafeMutableRawBufferPointer, at offset: Int, size: Int, alignment: Int
    ) throws(SharedMemoryError) -> UnsafeMutableRawPointer {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .invalidPlacement(offset: offset, size: size, reason: "alignment \(alignment) is not a power of two")
        }
        guard size >= 0 else { throw .invalidPlacement(offset: offset, size: size, reason: "negative size") }
        guard offset >= 0 else { throw .invalidPlacement(offset: offset, size: size, reason: "negative offset") }
        guard let base = payload.baseAddress, offset <= payload.count, size <= payload.count - offset else {
            throw .invalidPlacement(
                offset: offset, size: size, reason: "the segment's payload has only \(payload.count) bytes")
        }
        let address = base + offset
        guard Int(bitPattern: address) % alignment == 0 else {
            throw .invalidPlacement(offset: offset, size: size, reason: "offset must be a multiple of \(alignment)")
        }
        return address
    }

    /// Opens or creates the named segment of a fixed-size object (mutex, condition, …).
    static func namedObject(
        _ name: String, kind: ObjectKind, payloadSize: Int, kindParameters: [UInt32] = [],
        mode: OpenMode, permissions: FilePermissions, lifetime: Lifetime, owners: OwnerPolicy, timeout: Duration,
        initialize: (UnsafeMutableRawPointer) throws(SharedMemoryError) -> Void
    ) throws(SharedMemoryError) -> SharedMemory {
        let layout = Layout(
            kind: kind, payloadSize: payloadSize, capacity: 1, elementType: .none,
            kindParameters: kindParameters, checksCapacity: true, lifetime: lifetime)
        return try SharedMemory(
            name: try SegmentName(name), mode: mode, layout: layout, permissions: permissions, owners: owners,
            timeout: timeout,
            initialize: { (payload) throws(SharedMemoryError) in try initialize(payload.baseAddress!) })
    }
}
