import InterprocessBenchmarkKit
import Testing

/// What `shm bench` runs for a selection, without running it.
@Suite struct BenchPlanTests {
    @Test func aRoundTripRowBringsItsCLimitsFirst() {
        // The spinning SPSC row is compared with the C flags and the C ring, the blocking one
        // with the C futex; the Swift flag and futex rows join only when selected.
        let plan = BenchHarness.plan(scenarios: [.spscBlock, .spscSpin], workloads: [.rtt])
        #expect(plan.scenarios == [.cFlag, .cRing, .cFutex, .spscBlock, .spscSpin])
        #expect(plan.runs.map(\.1).allSatisfy { $0 == .rtt })
    }

    @Test func streamLimitsJoinStreamsAndRoundTripLimitsRoundTrips() {
        // A stream brings the C ring with backoff, not the round trips' limits; a row without a
        // selected workload is dropped, and brings no limit.
        let plan = BenchHarness.plan(scenarios: [.spscBlock, .bytesAdaptive, .spscBlock], workloads: [.stream])
        #expect(plan.scenarios == [.cRingBackoff, .spscBlock])
        #expect(plan.runs.map { "\($0.0.rawValue) \($0.1.rawValue)" } == ["c-ring-backoff stream", "spsc-block stream"])
        let large = BenchHarness.plan(scenarios: [.bytesAdaptive], workloads: [.stream1MiB])
        #expect(large.scenarios == [.cRingBackoff, .bytesAdaptive])
        #expect(BenchHarness.plan(scenarios: [.bytesAdaptive], workloads: [.rtt]).scenarios.isEmpty)
    }

    @Test func theMutexBufferBringsItsCTwinAndTheSwiftLimitsTheirs() {
        let plan = BenchHarness.plan(scenarios: [.mutexBuffer, .flag, .futex], workloads: BenchWorkload.allCases)
        #expect(plan.scenarios == [.cFlag, .cFutex, .cMutex, .mutexBuffer, .flag, .futex])
        #expect(
            plan.runs.filter { $0.0 == .cMutex }.map(\.1) == [.rtt, .stream, .stream1MiB], "every workload it compares")
    }

    @Test func aSelectedLimitKeepsItsPlaceAndRunsOnce() {
        let plan = BenchHarness.plan(scenarios: [.spscSpin, .cFlag, .cRing], workloads: [.rtt])
        #expect(plan.scenarios == [.spscSpin, .cFlag, .cRing])
        #expect(plan.runs.count == 3)
    }

    @Test func everyScenarioHasAWorkloadAndEveryLimitIsACRowThatRunsIt() {
        for scenario in BenchScenario.allCases {
            #expect(!scenario.workloads.isEmpty, "\(scenario)")
            if scenario.isCLimit {
                #expect(
                    scenario.limit == nil && scenario.ringLimit == nil && scenario.streamLimit == nil, "\(scenario)")
                #expect(scenario.rawValue.hasPrefix("c-"), "\(scenario)")
            }
            for limit in [scenario.limit, scenario.ringLimit].compactMap({ $0 }) {
                #expect(limit.isCLimit && limit.workloads.contains(.rtt), "\(scenario) → \(limit)")
                #expect(scenario.workloads.contains(.rtt), "\(scenario)")
            }
            // A row that measures a round trip has a round-trip limit (the byte channel only streams).
            if !scenario.isCLimit && scenario.workloads.contains(.rtt) { #expect(scenario.limit != nil, "\(scenario)") }
            let streams = scenario.workloads.filter { $0 != .rtt }
            if let limit = scenario.streamLimit {
                #expect(limit.isCLimit, "\(scenario) → \(limit)")
                for stream in streams { #expect(limit.workloads.contains(stream), "\(scenario) \(stream) → \(limit)") }
            } else {
                #expect(scenario.isCLimit || streams.isEmpty, "\(scenario) streams without a C limit")
            }
        }
        #expect(BenchScenario.flag.limit == .cFlag && BenchScenario.futex.limit == .cFutex)
        #expect(BenchScenario.mutexBuffer.limit == .cMutex && BenchScenario.mutexBuffer.streamLimit == .cMutex)
        #expect(BenchScenario.spscSpin.ringLimit == .cRing && BenchScenario.mpmcSpin.ringLimit == nil)
    }

    @Test func quickRunsAreShorterThanFullOnes() {
        let quick = BenchTimings.quick, full = BenchTimings.full
        #expect(quick.rounds < full.rounds && quick.warmup < full.warmup)
        #expect(quick.capSeconds < full.capSeconds && quick.streamSeconds < full.streamSeconds)
    }

    @Test func theMessagesHaveTheirSizes() {
        #expect(MemoryLayout<Message64>.size == 64)
        #expect(LargeMessage.size == 1 << 20)
        #expect(LargeMessage.byteChannelBufferSize == LargeMessage.capacity * LargeMessage.size)
    }
}
