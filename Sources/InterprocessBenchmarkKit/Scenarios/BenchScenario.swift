import Interprocess

/// What `shm bench` measures: one row of the table each.
package enum BenchScenario: String, CaseIterable, Codable, Sendable {
    // The limits every ratio is computed against, written in C (`Sources/CBenchLimits`).
    case cFlag = "c-flag"
    case cRing = "c-ring"
    case cRingBackoff = "c-ring-backoff"
    case cFutex = "c-futex"
    case cMutex = "c-mutex"
    // The same two limits written in Swift, compared with the C ones.
    case flag
    case futex
    case spscSpin = "spsc-spin"
    case spscBlock = "spsc-block"
    case spscAdaptive = "spsc-adaptive"
    case mpmcSpin = "mpmc-spin"
    case mpmcBlock = "mpmc-block"
    case mpmcAdaptive = "mpmc-adaptive"
    case bytesAdaptive = "bytes-adaptive"
    case topic1 = "topic-1"
    case topic2 = "topic-2"
    case topic4 = "topic-4"
    case serviceSpin = "service-spin"
    case serviceBlock = "service-block"
    case serviceAdaptive = "service-adaptive"
    case pipe
    case socket
    case waitSet1 = "waitset-1"
    case waitSet8 = "waitset-8"
    case waitSet64 = "waitset-64"
    /// The seed's scenario with the library's primitives: a bounded buffer in a `SharedArray`
    /// under a `ProcessMutex`, with two `ProcessCondition`s.
    case mutexBuffer = "mutex-buffer"

    /// The row's name in the table.
    package var title: String {
        switch self {
        case .cFlag: "C atomic flags, PAUSE spin (spin limit)"
        case .cRing: "C SPSC ring, busy poll (SPSC limit)"
        case .cRingBackoff: "C SPSC ring, 16×PAUSE backoff (stream limit)"
        case .cFutex: "C futex ping-pong (blocking limit)"
        case .cMutex: "C robust mutex + condvar bounded buffer (mutex-buffer limit)"
        case .flag: "Swift atomic flags in shared memory"
        case .futex: "Swift futex ping-pong"
        case .spscSpin: "Interprocess SPSC channel"
        case .spscBlock: "Interprocess SPSC channel"
        case .spscAdaptive: "Interprocess SPSC channel"
        case .mpmcSpin: "Interprocess MPMC channel"
        case .mpmcBlock: "Interprocess MPMC channel"
        case .mpmcAdaptive: "Interprocess MPMC channel"
        case .bytesAdaptive: "Interprocess byte channel (SPSC)"
        case .topic1: "Interprocess topic, 1 subscriber"
        case .topic2: "Interprocess topic, 2 subscribers (slowest)"
        case .topic4: "Interprocess topic, 4 subscribers (slowest)"
        case .serviceSpin, .serviceBlock, .serviceAdaptive: "Interprocess service (request, response)"
        case .pipe: "pipe pair"
        case .socket: "Unix stream socket pair"
        case .waitSet1: "Interprocess wait set, SPSC channel + 1 idle channel"
        case .waitSet8: "Interprocess wait set, SPSC channel + 8 idle channels"
        case .waitSet64: "Interprocess wait set, SPSC channel + 64 idle channels"
        case .mutexBuffer: "Interprocess ProcessMutex + ProcessCondition + SharedArray bounded buffer"
        }
    }

    /// How the row waits: "spin", "blocking" or "adaptive".
    package var mode: String {
        switch self {
        case .cFlag, .cRing, .cRingBackoff, .flag, .spscSpin, .mpmcSpin, .serviceSpin: "spin"
        case .cFutex, .cMutex, .futex, .spscBlock, .mpmcBlock, .pipe, .socket, .serviceBlock, .waitSet1, .waitSet8,
            .waitSet64, .mutexBuffer:
            "blocking"
        case .spscAdaptive, .mpmcAdaptive, .bytesAdaptive, .topic1, .topic2, .topic4, .serviceAdaptive: "adaptive"
        }
    }

    /// Whether the row is one of the C limits.
    package var isCLimit: Bool {
        switch self {
        case .cFlag, .cRing, .cRingBackoff, .cFutex, .cMutex: true
        default: false
        }
    }

    /// The C limit a row's round trip is compared with: spinning and adaptive rows with the
    /// atomic flags, blocking rows with the futex ping-pong, the mutex bounded buffer with its C
    /// twin.
    package var limit: BenchScenario? {
        switch self {
        case .cFlag, .cRing, .cRingBackoff, .cFutex, .cMutex, .bytesAdaptive: nil
        case .flag, .spscSpin, .mpmcSpin, .spscAdaptive, .mpmcAdaptive, .topic1, .topic2, .topic4, .serviceSpin,
            .serviceAdaptive:
            .cFlag
        case .futex, .spscBlock, .mpmcBlock, .pipe, .socket, .serviceBlock, .waitSet1, .waitSet8, .waitSet64: .cFutex
        case .mutexBuffer: .cMutex
        }
    }

    /// The second C limit of a round trip, for the SPSC rows that spin: the C SPSC ring.
    package var ringLimit: BenchScenario? {
        switch self {
        case .spscSpin, .spscAdaptive: .cRing
        default: nil
        }
    }

    /// The C limit a row's streams (64 B and 1 MiB) are compared with: the C ring with backoff,
    /// or for the mutex bounded buffer its C twin.
    package var streamLimit: BenchScenario? {
        if isCLimit || !workloads.contains(where: { $0 != .rtt }) { return nil }
        return self == .mutexBuffer ? .cMutex : .cRingBackoff
    }

    /// The workloads the row runs.
    package var workloads: [BenchWorkload] {
        switch self {
        case .cFlag, .cFutex, .flag, .futex, .serviceSpin, .serviceBlock, .serviceAdaptive, .waitSet1, .waitSet8,
            .waitSet64:
            [.rtt]
        case .cRing: [.rtt, .stream]
        case .cRingBackoff, .cMutex, .mutexBuffer: [.rtt, .stream, .stream1MiB]
        case .spscSpin, .spscBlock, .spscAdaptive, .mpmcSpin, .mpmcBlock, .mpmcAdaptive: [.rtt, .stream]
        case .bytesAdaptive: [.stream1MiB]
        case .pipe, .socket, .topic1, .topic2, .topic4: [.rtt, .stream, .stream1MiB]
        }
    }

    /// The number of subscriber processes, for topic rows.
    package var topicSubscribers: Int? {
        switch self {
        case .topic1: 1
        case .topic2: 2
        case .topic4: 4
        default: nil
        }
    }

    /// The wait strategy of both sides, for service rows.
    package var serviceStrategy: WaitStrategy? {
        switch self {
        case .serviceSpin: .spin
        case .serviceBlock: .block
        case .serviceAdaptive: .adaptive
        default: nil
        }
    }

    /// The number of idle channels beside the echoed one, for wait-set rows.
    package var waitSetIdleSources: Int? {
        switch self {
        case .waitSet1: 1
        case .waitSet8: 8
        case .waitSet64: 64
        default: nil
        }
    }

    /// The channel's topology and wait strategy, for channel rows.
    package var channel: (ChannelTopology, WaitStrategy)? {
        switch self {
        case .spscSpin: (.singleProducerSingleConsumer, .spin)
        case .spscBlock: (.singleProducerSingleConsumer, .block)
        case .spscAdaptive: (.singleProducerSingleConsumer, .adaptive)
        case .mpmcSpin: (.multiProducerMultiConsumer, .spin)
        case .mpmcBlock: (.multiProducerMultiConsumer, .block)
        case .mpmcAdaptive: (.multiProducerMultiConsumer, .adaptive)
        default: nil
        }
    }

    /// What this build cannot measure, said in the output rather than left out silently.
    package static func gaps(workloads: [BenchWorkload]) -> [String] { [] }
}
