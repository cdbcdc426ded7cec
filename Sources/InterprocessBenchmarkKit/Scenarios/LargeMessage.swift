/// The 1 MiB messages of the `stream-1mib` workload: the sender writes the sequence number into
/// the first 8 bytes of its buffer and copies it in; the receiver copies each message out into
/// its own buffer.
package enum LargeMessage {
    /// One message: 1 MiB.
    package static let size = 1 << 20
    /// Messages in flight: the byte ring holds this many messages' bytes.
    package static let capacity = 8
    /// The byte channel's ring: 8 MiB. Each frame adds an 8-byte header, so it holds 7 whole
    /// 1 MiB messages at once (the closest the byte ring's power-of-two size comes to 8).
    package static let byteChannelBufferSize = capacity * size
}
