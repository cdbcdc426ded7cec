import Foundation
import Interprocess
import Testing

/// `shm bench` and `shm demo channel` end to end.
@Suite(.serialized) struct BenchTests {
    @Test func quickBenchReportsEveryRow() throws {
        let run = try ShmTool.run(["bench", "--quick", "--json"], timeout: 300)
        #expect(run.status == 0 && !run.killedBySignal, "\(run)")
        let report = try ShmTool.jsonResult(run.stdout, of: "bench")
        let machine = report["machine"] as? [String: Any]
        #expect((machine?["cpu"] as? String)?.isEmpty == false, "\(run.stdout)")
        #expect((machine?["vendor"] as? String)?.isEmpty == false, "\(run.stdout)")
        let kernel = machine?["kernel"] as? String ?? ""
        #expect(kernel.hasPrefix("Linux"), "\(run.stdout)")
        let rows = report["rows"] as? [[String: Any]] ?? []
        let ids = Set(rows.compactMap { $0["id"] as? String })
        for id in [
            "c-flag", "c-ring", "c-ring-backoff", "c-futex", "c-mutex", "mutex-buffer", "flag", "futex", "spsc-spin",
            "spsc-block", "spsc-adaptive", "mpmc-spin", "mpmc-block", "mpmc-adaptive",
            "bytes-adaptive", "pipe", "socket", "waitset-1", "waitset-8", "waitset-64", "service-spin", "service-block",
            "service-adaptive"
        ] {
            #expect(ids.contains(id), "no row \(id)\n\(run.stdout)")
        }
        for row in rows {
            let id = row["id"] as? String ?? "?"
            if let rtt = row["rtt"] as? [String: Any] {
                for key in ["n", "p50_ns", "p99_ns", "p999_ns"] {
                    #expect(((rtt[key] as? NSNumber)?.doubleValue ?? 0) > 0, "\(id) rtt \(key)\n\(run.stdout)")
                }
            } else if id != "bytes-adaptive" {
                Issue.record("\(id) has no round-trip figures\n\(run.stdout)")
            }
            if let limit = row["limit"] as? String {
                #expect(limit.hasPrefix("c-"), "\(id) is compared with \(limit), not a C limit")
                #expect(((row["rttP50RatioToLimit"] as? NSNumber)?.doubleValue ?? 0) > 0, "\(id) ratio")
            }
            if row["ringLimit"] != nil {
                #expect(((row["rttP50RatioToRing"] as? NSNumber)?.doubleValue ?? 0) > 0, "\(id) ring ratio")
            }
            if let limit = row["streamLimit"] as? String {
                #expect(limit.hasPrefix("c-"), "\(id) streams are compared with \(limit), not a C limit")
                for (key, ratio) in [("stream64", "stream64RatioToLimit"), ("stream1MiB", "stream1MiBRatioToLimit")]
                where row[key] != nil {
                    #expect(((row[ratio] as? NSNumber)?.doubleValue ?? 0) > 0, "\(id) \(ratio)")
                }
            }
            for key in ["stream64", "stream1MiB"] {
                guard let stream = row[key] as? [String: Any] else { continue }
                #expect(
                    ((stream["messagesPerSecond"] as? NSNumber)?.doubleValue ?? 0) > 0,
                    "\(id) \(key) rate\n\(run.stdout)")
                #expect((stream["loss"] as? NSNumber)?.intValue == 0, "\(id) \(key) loss\n\(run.stdout)")
                #expect((stream["outOfOrder"] as? NSNumber)?.intValue == 0, "\(id) \(key) order\n\(run.stdout)")
                #expect(((stream["received"] as? NSNumber)?.intValue ?? 0) > 0, "\(id) \(key) received")
            }
            // The wait-set rows measure a wake-up, the service rows a request and its response: a
            // round trip only.
            let roundTripOnly = [
                "c-flag", "c-futex", "flag", "futex", "bytes-adaptive", "waitset-1", "waitset-8", "waitset-64",
                "service-spin",
                "service-block",
                "service-adaptive"
            ]
            if !roundTripOnly.contains(id) {
                #expect(row["stream64"] != nil, "\(id) has no 64-byte stream\n\(run.stdout)")
            }
        }
        // The byte channel, pipe and socket carry 1 MiB messages.
        for row in rows where ["bytes-adaptive", "pipe", "socket"].contains(row["id"] as? String ?? "") {
            #expect(row["stream1MiB"] != nil, "\(row)")
        }
        let listed = run.stdout
        #expect(!listed.contains("\"bench."), "no object names leak into the report")
    }

    @Test func quickBenchTableAndScenarioSelection() throws {
        let run = try ShmTool.run(["bench", "--quick", "--scenarios", "spsc-block", "--workloads", "rtt"], timeout: 120)
        #expect(run.status == 0, "\(run)")
        // The limit of a blocking row (the C futex ping-pong) joins the run; the Swift one does not.
        #expect(run.stdoutLines.contains { $0.hasPrefix("c-futex:") }, "\(run)")
        #expect(run.stdoutLines.contains { $0.hasPrefix("spsc-block:") && $0.contains("× c-futex") }, "\(run)")
        #expect(!run.stdoutLines.contains { $0.hasPrefix("futex:") }, "\(run)")
        #expect(run.stdoutLines.first?.hasPrefix("machine: ") == true, "\(run)")
        #expect(!run.stdoutLines.contains { $0.hasPrefix("pipe:") }, "\(run)")
    }

    /// One short run of each C limit and of the mutex bounded buffer: every round trip gives
    /// nonzero, ordered percentiles, every stream a rate with nothing lost.
    @Test func cLimitRowsGiveSaneFigures() throws {
        let scenarios = ["c-flag", "c-ring", "c-ring-backoff", "c-futex", "c-mutex", "mutex-buffer"]
        let both = ["stream64", "stream1MiB"]
        let expectedStreams = ["c-ring": ["stream64"], "c-ring-backoff": both, "c-mutex": both, "mutex-buffer": both]
        let run = try ShmTool.run(
            [
                "bench", "--scenarios", scenarios.joined(separator: ","), "--warmup", "50", "--round-trips", "300",
                "--round-trip-seconds", "1", "--seconds", "0.05", "--json"
            ], timeout: 300)
        #expect(run.status == 0 && !run.killedBySignal, "\(run)")
        let report = try ShmTool.jsonResult(run.stdout, of: "bench")
        let rows = report["rows"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["id"] as? String ?? "?" } == scenarios, "\(run.stdout)")
        func number(_ object: Any?, _ key: String) -> Double {
            ((object as? [String: Any])?[key] as? NSNumber)?.doubleValue ?? 0
        }
        for row in rows {
            let id = row["id"] as? String ?? "?"
            let rtt = row["rtt"]
            #expect(number(rtt, "n") > 0 && number(rtt, "p50_ns") > 0, "\(id)\n\(run.stdout)")
            #expect(number(rtt, "p50_ns") <= number(rtt, "p99_ns"), "\(id)\n\(run.stdout)")
            #expect(number(rtt, "p99_ns") <= number(rtt, "p999_ns"), "\(id)\n\(run.stdout)")
            for key in expectedStreams[id] ?? [] {
                #expect(number(row[key], "messagesPerSecond") > 0, "\(id) \(key)\n\(run.stdout)")
                #expect(number(row[key], "received") > 0, "\(id) \(key)\n\(run.stdout)")
                #expect(row[key] != nil && number(row[key], "loss") == 0, "\(id) \(key)\n\(run.stdout)")
                #expect(row[key] != nil && number(row[key], "outOfOrder") == 0, "\(id) \(key)\n\(run.stdout)")
            }
        }
        // The library's bounded buffer is compared with its C twin, in every workload.
        let buffer = rows.first { $0["id"] as? String == "mutex-buffer" }
        #expect(buffer?["limit"] as? String == "c-mutex" && buffer?["streamLimit"] as? String == "c-mutex")
        for key in ["rttP50RatioToLimit", "stream64RatioToLimit", "stream1MiBRatioToLimit"] {
            #expect(number(buffer, key) > 0, "\(key)\n\(run.stdout)")
        }
    }

    @Test func benchUsageError() throws {
        let run = try ShmTool.run(["bench", "--scenarios", "carrier-pigeon"])
        #expect(run.status != 0 && run.status != 1, "\(run)")
        #expect(run.stderr.contains("carrier-pigeon"), "\(run)")
    }

    @Test func channelDemo() throws {
        let run = try ShmTool.run(["demo", "channel", "--count", "20000"], timeout: 120)
        #expect(run.status == 0 && !run.killedBySignal, "\(run)")
        #expect(
            run.stdoutLines.contains { $0.contains("Consumer received 20000 messages in order, none lost") }, "\(run)")
        #expect(run.stdoutLines.last?.contains("received all 20000 messages in order") == true, "\(run)")
        if let line = run.stdoutLines.first(where: { $0.contains(" on channel '") }) {
            let name = String(line.split(separator: "'")[1])
            #expect(!SharedMemory.exists(named: name), "\(name) left behind")
        } else {
            Issue.record("no start line\n\(run)")
        }
    }
}
