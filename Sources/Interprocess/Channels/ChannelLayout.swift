/// Where each control word of a channel's payload lives: byte offsets from the start of the
/// payload (the segment's byte ``HeaderLayout/size``), for typed and byte channels alike.
///
/// The one definition of the control block, used by ``ChannelControl``, by inspection, and by
/// the tests that attack the layout.
///
/// Words written by different sides sit on different 128-byte blocks (two cache lines, so the
/// adjacent-line prefetcher does not couple them either).
///
/// | offset | written by | words |
/// |---:|---|---|
/// | 0 | senders | `tail` (SPSC: a record, every few messages, for inspection and successors; byte channels: the published byte count) / `enqueuePosition` (MPMC), UInt64 |
/// | 128 | receivers | `head` (SPSC: the released position, which the sender reads when its copy says full) / `dequeuePosition` (MPMC), UInt64 |
/// | 256 | senders (wakers) and receivers (sleepers) | `notEmpty`: sequence UInt32, waiters UInt32 |
/// | 384 | receivers (wakers) and senders (sleepers) | `notFull`: sequence UInt32, waiters UInt32 |
/// | 512 | both, rarely | `closed`, `openSenders`, `openReceivers`, `receiversClosed` (UInt32 each), then `abandonedClaimsEnd` (UInt64, at 528) |
/// | 640… | | slots (see ``ChannelGeometry``): typed, a UInt64 sequence word then the element; bytes, the ring of frames |
///
/// In `receiversClosed` and `abandonedClaimsEnd` zero means "nothing to report" ("receivers
/// not closed", "no abandoned claim"), which is what a fresh payload holds (every payload
/// starts zeroed).
///
/// The geometry (topology, capacity, slot stride, offsets) is *not* read from the payload: it is
/// recorded in the segment header's checksummed kind parameters (``ChannelGeometry``), so a
/// process that scribbles over the payload cannot make another read outside the mapping.
/// A change of anything here bumps the channel kinds' ``ObjectKind/layoutVersion``.
@usableFromInline
package enum ChannelLayout {
    /// The senders' position (UInt64).
    @usableFromInline package static let producerIndex = 0
    /// The receivers' position (UInt64).
    @usableFromInline package static let consumerIndex = 128
    /// The wake words receivers sleep on for messages.
    @usableFromInline package static let notEmpty = 256
    /// The wake words senders sleep on for space.
    @usableFromInline package static let notFull = 384
    /// Inside a pair of wake words: the futex sequence word (UInt32).
    package static let wakeSequence = 0
    /// Inside a pair of wake words: the sleeper count (UInt32).
    package static let wakeWaiters = 4

    /// The words both sides write, rarely.
    package static let state = 512
    /// 1 once every sender has closed (UInt32).
    package static let closed = state + 0
    /// Senders that opened and have not closed (UInt32).
    package static let openSenders = state + 4
    /// Receivers that opened and have not closed (UInt32).
    package static let openReceivers = state + 8
    /// 1 once every receiver has closed (UInt32).
    package static let receiversClosed = state + 12
    /// MPMC: the end of the claims dead senders abandoned (UInt64).
    package static let abandonedClaimsEnd = state + 16

    /// The control block's size: slots start at or after this offset.
    package static let controlSize = 640
}
