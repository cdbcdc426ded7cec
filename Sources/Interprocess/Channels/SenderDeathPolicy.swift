/// What a receiver does when every sender died without closing the channel.
///
/// Either way the receiver first takes every message the dead senders published completely; a
/// message a sender was writing when it died is never delivered. The choice is what happens
/// then.
public enum SenderDeathPolicy: Sendable, Hashable {
    /// Report it: once the channel is drained, receives throw ``ChannelError/senderDied``. The
    /// default.
    case report
    /// Wait for a successor: a dead sender is not an error. Receives keep waiting, within their
    /// timeout, until a sender opens the channel again, and continue with its messages after
    /// the last message the dead senders published completely (nothing lost, nothing
    /// delivered twice). With ``ChannelTopology/multiProducerMultiConsumer`` the receivers also
    /// step over the slots dead senders claimed and never published, once it is certain that
    /// nobody alive can still publish them. A channel closed by its senders still ends in
    /// ``ChannelError/closed``.
    case awaitSuccessor
}
