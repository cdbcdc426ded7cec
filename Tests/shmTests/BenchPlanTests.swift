import InterprocessBenchmarkKit
import Testing

/// What `shm bench` runs for a selection, without running it.
@Suite struct BenchPlanTests {
    @Test func aRoundTripRowBringsItsLimitFirst() {
        let plan = BenchHarness.plan(scenarios: [.spscBlock, .spscSpin], workloads: [.rtt])
        #expect(plan.scenarios == [.futex, .flag, .spscBlock, .spscSpin])
        #expect(plan.runs.map(\.1).allSatisfy { $0 == .rtt })
    }

    @Test func limitsJoinOnlyRoundTrips() {
        // Streams are not compared with a limit, and a row without a selected workload is dropped.
        let plan = BenchHarness.plan(scenarios: [.spscBlock, .bytesAdaptive, .spscBlock], workloads: [.stream])
        #expect(plan.scenarios == [.spscBlock])
        #expect(plan.runs.map { "\($0.0.rawValue) \($0.1.rawValue)" } == ["spsc-block stream"])
    }

    @Test func everyScenarioHasAWorkloadAndEveryLimitIsARoundTripRow() {
        for scenario in BenchScenario.allCases {
            #expect(!scenario.workloads.isEmpty, "\(scenario)")
            if let limit = scenario.limit { #expect(limit.workloads == [.rtt], "\(scenario)") }
        }
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
