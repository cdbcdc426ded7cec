import Glibc
import Interprocess
import Testing

import InterprocessTestSupport

extension MultiProcessTests {
    /// A hostile process scribbles over a live topic's shared state (see `HostileNeighbour` for
    /// the other attacks): its endpoints end with a typed error, or time out in a bounded wait,
    /// or go on working; none crashes or hangs.
    @Suite struct TopicHostileNeighbour {
        /// A part of the topic a scribbler aims at, under a policy.
        struct Attack: CustomStringConvertible, Sendable {
            var policy: String
            var region: String
            var overflow: TopicConfiguration.OverflowPolicy { policy == "drop-oldest" ? .dropOldest : .block }
            /// How long the scribbler writes: longer for the history counts, whose bad values
            /// matter only in the instant between a joiner's two reads.
            var milliseconds: Int { region == "history-counts" ? 2_000 : 500 }
            var description: String { "\(region) (\(policy))" }
        }

        static let attacks: [Attack] =
            ["publisher-records", "history-counts", "subscriber-records", "queues", "descriptors", "everything"].map {
                Attack(policy: "block", region: $0)
            } + ["subscriber-records", "queues", "everything"].map { Attack(policy: "drop-oldest", region: $0) }

        /// What a hostile-mode role may end with (see `TopicRoles.swift`): its result, a typed
        /// error, a bounded wait that ran out.
        static let endings: Set<String> = ["done", "result", "typed", "stuck", "joined"]

        /// Waits for `peer`'s last line, which must be one of ``endings``, and its normal exit
        /// (never a signal: a crash).
        private func expectEnding(_ peer: Peer, _ attack: Attack, seed: Int) {
            do {
                let line = try peer.waitFor(Self.endings, timeout: .seconds(60))
                let exit = try peer.waitForExit(timeout: .seconds(30))
                #expect(
                    exit == .exited(0),
                    "\(attack), seed \(seed): \(peer) \(exit) after '\(line)'; stderr \(peer.standardError)")
            } catch {
                Issue.record("\(attack), seed \(seed): \(error)")
            }
        }

        /// A subscriber process, a publisher process and a process that joins and leaves as a
        /// subscriber again and again run while a fourth process writes garbage words (random,
        /// small numbers, a word's own value moved by a little) over `attack.region` (for 0.5 s;
        /// the publisher and the joiner run 0.5 s longer). Each ends within its bound, normally, saying how (typed
        /// error, bounded wait that ran out, or its result). Then a new publisher and a new
        /// subscriber on the scribbled topic do the same. The seed of the scribbler is in every
        /// failure message.
        ///
        /// `history-counts` writes counts below the history depth over the publisher's history
        /// counts, which a joining subscriber reads twice while it pins its window: before the
        /// window arithmetic was bounded at zero, the joiner died of an arithmetic-overflow trap
        /// in some runs (the scribbler finds the counts by their values, whatever the layout's
        /// offsets).
        @Test(arguments: Self.attacks)
        func scribbledTopicGivesTypedErrorsNeverACrashOrAHang(_ attack: Attack) throws {
            let seed = Int.random(in: 0...Int.max)
            let scenario = Scenario("topic-hostile")
            defer { scenario.removeAll() }
            try scenario.makeTopic(HostileTopic.configuration(attack.overflow))
            let subscriber = try Peer("topic-subscribe", scenario.name, "0", "0", "hostile")
            try subscriber.waitFor("ready")
            let running = "\(attack.milliseconds + 500)"
            let publisher = try Peer("topic-publish", scenario.name, "0", "-1", "hostile", "duration", running)
            try publisher.waitFor("opened")
            let joiner = try Peer("topic-join-loop", scenario.name, running)
            let scribbler = try Peer(
                "topic-scribble", scenario.name, attack.policy, attack.region, "\(seed)", "\(attack.milliseconds)")
            try scribbler.waitFor("scribbled", timeout: .seconds(30))
            expectExitedNormally(scribbler)
            for peer in [publisher, subscriber, joiner] { expectEnding(peer, attack, seed: seed) }

            // The publisher first: a subscriber that joins while no publisher is open, after one
            // closed, is told `closed` once it took the history.
            let latePublisher = try Peer("topic-publish", scenario.name, "1", "-1", "hostile", "duration", "500")
            try latePublisher.waitFor(["opened", "typed"])
            let lateSubscriber = try Peer("topic-subscribe", scenario.name, "1", "0", "hostile")
            for peer in [latePublisher, lateSubscriber] { expectEnding(peer, attack, seed: seed) }
        }
    }
}
