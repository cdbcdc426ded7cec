import SystemPackage
import Synchronization

/// The shared part of a byte-message channel: a single-producer single-consumer ring of bytes
/// holding length-prefixed frames.
///
/// ## Frames
/// Each message is a frame: an 8-byte header (the payload length as UInt32, then 4 zero bytes)
/// followed by the payload, padded to a multiple of 8 bytes. Frames never wrap: when the frame
/// does not fit before the end of the ring, the sender writes a *wrap marker* (a header with
/// length `0xFFFF_FFFF`) and starts the frame at offset 0, so every payload is contiguous and can
/// be read or written in place. The ring holds at least two maximum-size frames, which
/// guarantees a frame always fits once the receiver has caught up.
///
/// The control words are ``ChannelLayout``'s and the geometry ``ChannelGeometry``'s (kind
/// parameters: the maximum message size, the ring's offset). `tail` and `head` count bytes, monotonically; the
/// receiver validates every header it reads (length within the maximum, frame within what was
/// published) so a corrupt ring is ``ChannelError/corrupt(_:)``, never an out-of-bounds read.
final class ByteRing: @unchecked Sendable {
    static let frameHeader = 8
    static let wrapMarker = UInt32.max

    let segment: SharedMemory
    let control: ChannelControl
    /// Where the ring is, as the header records it.
    let geometry: ChannelGeometry
    let ring: UnsafeMutableRawPointer
    let size: Int
    let mask: UInt64
    let maximumMessageSize: Int

    static func frameSize(_ length: Int) -> Int { frameHeader + (length + 7) & ~7 }

    /// The bytes free for the sender between `head` and `tail`; 0 when the receiver's `head`
    /// (shared, untrusted) claims more than a ring is in use, so a hostile head makes the ring
    /// look full, never the subtraction overflow.
    func freeBytes(tail: UInt64, head: UInt64) -> UInt64 {
        let used = tail &- head
        return used > UInt64(size) ? 0 : UInt64(size) - used
    }

    /// The smallest power-of-two ring holding `requested` bytes and two maximum-size frames.
    static func ringSize(requested: Int, maximumMessageSize: Int) -> Int {
        var size = 64
        let needed = max(requested, 2 * frameSize(maximumMessageSize))
        while size < needed { size <<= 1 }
        return size
    }

    init(
        name: String, bufferSize: Int?, maximumMessageSize: Int?, mode: SharedMemory.OpenMode,
        permissions: FilePermissions, lifetime: SharedMemory.Lifetime, owners: SharedMemory.OwnerPolicy,
        timeout: Duration
    ) throws(ChannelError) {
        let creating = bufferSize != nil && maximumMessageSize != nil
        if !creating && mode == .create {
            throw .segment(
                .invalidSize(
                    0, reason: "a buffer size and a maximum message size are required to create a byte channel"))
        }
        if let maximumMessageSize, maximumMessageSize <= 0 || maximumMessageSize >= 1 << 30 {
            throw .segment(.invalidSize(maximumMessageSize, reason: "a maximum message size is in 1..<2^30 bytes"))
        }
        if let bufferSize, bufferSize <= 0 || bufferSize > 1 << 40 {
            throw .segment(.invalidSize(bufferSize, reason: "a buffer size is in 1...2^40 bytes"))
        }
        let created = ChannelGeometry.bytes(
            ringSize: creating ? ByteRing.ringSize(requested: bufferSize!, maximumMessageSize: maximumMessageSize!) : 0,
            maximumMessageSize: maximumMessageSize ?? 0)
        let layout = SharedMemory.Layout(
            kind: .byteChannel, payloadSize: created.payloadSize, capacity: created.capacity, elementType: .none,
            kindParameters: created.kindParameters, checksCapacity: false, lifetime: lifetime)
        let segment: SharedMemory
        do {
            segment = try SharedMemory(
                name: try SegmentName(name), mode: creating ? mode : .open, layout: layout, permissions: permissions,
                owners: owners, timeout: timeout, registersAsOpener: false, initialize: { _ in })
        } catch {
            throw .segment(error)
        }
        // Geometry from the checksummed header, validated before use.
        guard
            let found = ChannelGeometry(
                kind: segment.kind, kindParameters: segment.kindParameters, capacity: segment.capacity),
            found.slotsOffset == created.slotsOffset, found.fits(payloadBytes: segment.bytes.count),
            let maximum = found.maximumMessageSize
        else {
            throw .corrupt(
                "byte channel geometry (ring \(segment.capacity) bytes, maximum message \(segment.kindParameters[0]))")
        }
        if let maximumMessageSize, maximumMessageSize != maximum {
            throw .segment(
                .mismatch(name: name, .configuration("maximum message size \(maximum), not \(maximumMessageSize)")))
        }
        self.segment = segment
        self.control = ChannelControl(payload: segment.bytes.baseAddress!)
        self.geometry = found
        self.ring = segment.bytes.baseAddress! + found.slotsOffset
        self.size = found.capacity
        self.mask = UInt64(found.capacity - 1)
        self.maximumMessageSize = maximum
    }
}
