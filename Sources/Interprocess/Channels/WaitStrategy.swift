/// How a blocked channel operation waits for the other side.
///
/// The polling strategies (``spin`` and ``adaptive``) tell a request/reply exchange from a
/// stream. A receiver that took several messages since its last wait, at a stream's pace (under
/// 250 ns each), is keeping up with a stream; a sender that sent several since its last wait
/// and finds the ring full is feeding one. Either stays off the ring for 2 µs before it polls
/// again, so that the other side fills (or frees) a batch of slots without fighting over cache
/// lines. With one message in flight at a time this never happens, and a round trip costs what
/// the cache lines cost.
public enum WaitStrategy: Sendable, Hashable {
    /// Poll continuously: the lowest latency, one busy core per waiting side.
    case spin
    /// Sleep in the kernel (futex) at once: no CPU while waiting, a kernel wake-up per wait.
    case block
    /// Poll briefly, then sleep. While traffic flows the sides stay awake (spin latency); when
    /// it stops they sleep (no CPU). The default.
    case adaptive
}
