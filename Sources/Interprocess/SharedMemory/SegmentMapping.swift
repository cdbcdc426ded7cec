/// A segment's mapping: the header page, then the payload.
///
/// Every address into a segment is derived from one of these, inside the lifetime of the
/// ``SharedMemory`` that owns it; only that owner unmaps it.
struct SegmentMapping {
    /// The first byte of the mapping (the header's).
    let base: UnsafeMutableRawPointer
    /// The mapped length: the file's length when it was mapped.
    let length: Int
    /// The payload: the `payloadSize` bytes after the header.
    let payload: UnsafeMutableRawBufferPointer

    /// - Precondition: `base` maps `length` bytes, `SegmentHeader.size + payloadSize` of them at
    ///   least.
    init(base: UnsafeMutableRawPointer, length: Int, payloadSize: Int) {
        self.base = base
        self.length = length
        payload = UnsafeMutableRawBufferPointer(start: base + SegmentHeader.size, count: payloadSize)
    }

    var header: SegmentHeader { SegmentHeader(base: base) }

    func unmap() { FileSystem.unmap(base, length: length) }
}
