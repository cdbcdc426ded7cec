// Runs W1–W5 of BENCHMARKS.md for Interprocess' ThreadPool and, in the same run, for
// Dispatch, SwiftNIO's NIOThreadPool and a TaskGroup on the default executor, and W3 on plain C
// threads (its limit); prints a Markdown table of medians (min–max) over the repetitions.
//
//   swift run -c release ThreadPoolComparison [--reps 5] [--idle-seconds 10] [--w1 1000000]
import BenchmarkScenarios
import CPoolLimits
import Glibc
import Interprocess
import PoolWorkloads

func option(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return fallback
}

let reps = option("--reps", 5)
let idleSeconds = option("--idle-seconds", 10)
let w1Tasks = option("--w1", PoolWorkload.tinyTaskCount)
let w2Iterations = PoolWorkload.latencyIterations
let w2Cap = PoolWorkload.latencyCapNanoseconds
let threads = PoolWorkload.threads

func log(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

struct Summary {
    var values: [Double]
    var median: Double {
        let s = values.sorted()
        return s[s.count / 2]
    }
    var min: Double { values.min() ?? 0 }
    var max: Double { values.max() ?? 0 }
}

func fmt(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 {
        s += "." + String(repeating: "0", count: digits)
    }
    return s
}

func rate(_ perSecond: Double) -> String {
    perSecond >= 1e6 ? fmt(perSecond / 1e6, 2) + " M" : fmt(perSecond / 1e3, 0) + " k"
}

func cell(_ s: Summary, _ render: (Double) -> String) -> String {
    "\(render(s.median)) (\(render(s.min))–\(render(s.max)))"
}

let data = SqrtData()

// Sequential baselines for W3 and W4, same binary, main thread.
var seqW3: [Double] = []
var seqW4: [Double] = []
for _ in 0..<reps {
    seqW3.append(timed { for i in 0..<PoolWorkload.cpuBoundTasks { cpuTask(index: UInt64(i)) } })
    expectCompleted(PoolWorkload.cpuBoundTasks, "sequential W3")
    seqW4.append(timed { for c in 0..<SqrtData.chunks { data.chunkTask(c) } })
    expectCompleted(SqrtData.chunks, "sequential W4")
}
// W3's limit in C: the same tasks on plain threads that share one atomic index, and its own
// sequential baseline (C's code for the loop may differ from Swift's; each speedup is over its
// own sequential run).
var seqW3C: [Double] = []
for _ in 0..<reps {
    seqW3C.append(
        Double(cpl_cpu_bound_sequential(Int32(PoolWorkload.cpuBoundTasks), UInt64(PoolWorkload.cpuTaskRounds))) / 1e9)
}
let seq3C = Summary(values: seqW3C).median
var limitW3: [Double] = []
let sequentialSum = data.total
let seq3 = Summary(values: seqW3).median
let seq4 = Summary(values: seqW4).median
log("sequential: W3 \(fmt(seq3, 3)) s, W4 \(fmt(seq4, 4)) s")

struct Row {
    var name: String
    var w1: Summary?
    var w2p50: Summary?
    var w2p99: Summary?
    var w3: Summary?
    var w4: Summary?
    var w5: Summary?
}

let ours = InterprocessPeer(threads: threads)
let peers: [any PoolPeer] = [ours, DispatchPeer(), NIOPeer(threads: threads), TaskGroupPeer()]
var rows: [Row] = peers.map { Row(name: $0.name) }
var batchedW1: [Double] = []
var parallelForW4: [Double] = []
var raw: [[String: [Double]]] = Array(repeating: [:], count: peers.count)

// Interleave peers within each repetition so that machine noise spreads over all of them.
for rep in 0..<reps {
    for (index, peer) in peers.enumerated() {
        let w1 = Double(w1Tasks) / peer.tinyTasks(w1Tasks)
        let samples = peer.latency(iterations: w2Iterations, cap: w2Cap).sorted()
        let p50 = Double(percentile(samples, 0.50)) / 1000
        let p99 = Double(percentile(samples, 0.99)) / 1000
        let w3 = peer.cpuBound()
        let w4 = peer.parallelFor(data)
        if abs(data.total - sequentialSum) > 1e-6 * sequentialSum { fatalError("W4 sum mismatch for \(peer.name)") }
        let w5 = peer.blocking()
        for (key, value) in [("w1", w1), ("p50", p50), ("p99", p99), ("w3", w3), ("w4", w4), ("w5", w5)] {
            raw[index][key, default: []].append(value)
        }
        log(
            "rep \(rep + 1) \(peer.name): W1 \(rate(w1))/s, W2 p50 \(fmt(p50, 2)) µs p99 \(fmt(p99, 2)) µs (n=\(samples.count)), W3 \(fmt(w3, 3)) s, W4 \(fmt(w4, 4)) s, W5 \(fmt(w5, 3)) s"
        )
    }
    var counts = [Int32](repeating: 0, count: threads)
    let limitNanoseconds = cpl_cpu_bound_parallel(
        Int32(threads), Int32(PoolWorkload.cpuBoundTasks), UInt64(PoolWorkload.cpuTaskRounds), &counts)
    guard limitNanoseconds > 0 else { fatalError("C threads: pthread_create failed") }
    limitW3.append(Double(limitNanoseconds) / 1e9)
    log("rep \(rep + 1) C threads, one atomic index: W3 \(fmt(limitW3.last!, 3)) s, tasks per thread \(counts)")
    batchedW1.append(Double(w1Tasks) / ours.tinyTasksBatched(w1Tasks))
    parallelForW4.append(ours.parallelForAPI(data))
    log(
        "rep \(rep + 1) Interprocess extras: W1 batched \(rate(batchedW1.last!))/s, W4 parallelFor \(fmt(parallelForW4.last!, 4)) s"
    )
}

for index in peers.indices {
    rows[index].w1 = Summary(values: raw[index]["w1"]!)
    rows[index].w2p50 = Summary(values: raw[index]["p50"]!)
    rows[index].w2p99 = Summary(values: raw[index]["p99"]!)
    rows[index].w3 = Summary(values: raw[index]["w3"]!)
    rows[index].w4 = Summary(values: raw[index]["w4"]!)
    rows[index].w5 = Summary(values: raw[index]["w5"]!)
}

// Idle CPU: a pool that ran a burst, then sits idle for `idleSeconds`.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`,
/// from /proc/self/task/*/stat (fields 14 and 15, in clock ticks).
func threadsCPUSeconds(prefix: String) -> Double {
    func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = fread(&buffer, 1, buffer.count - 1, file)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    guard let dir = opendir("/proc/self/task") else { return 0 }
    defer { closedir(dir) }
    var ticks = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard name.first?.isNumber == true,
            let comm = read("/proc/self/task/\(name)/comm"), comm.hasPrefix(prefix),
            let stat = read("/proc/self/task/\(name)/stat"),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the ")" come field 3 (state) onwards: utime is field 14, stime field 15.
        if fields.count > 12, let u = Int(fields[11]), let k = Int(fields[12]) { ticks += u + k }
    }
    return Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

var idlePercent = -1.0
var idlePoolPercent = -1.0
if idleSeconds > 0 {
    let pool = try ThreadPool(configuration: .init(threadCount: threads, threadNamePrefix: "idlepool-"))
    for _ in 0..<10_000 { try pool.execute { tinyTask() } }
    try pool.waitUntilIdle()
    expectCompleted(10_000, "idle warm-up")
    let before = processCPUSeconds()
    let poolBefore = threadsCPUSeconds(prefix: "idlepool-")
    var request = timespec(tv_sec: idleSeconds, tv_nsec: 0)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    idlePercent = (processCPUSeconds() - before) / Double(idleSeconds) * 100
    idlePoolPercent = (threadsCPUSeconds(prefix: "idlepool-") - poolBefore) / Double(idleSeconds) * 100
    pool.shutdown()
    try pool.awaitTermination()
}

print("Thread pool, \(threads) workers, \(reps) repetitions, median (min–max); W1 \(w1Tasks) tasks")
print("")
print("| peer | W1 tasks/s | W2 p50 µs | W2 p99 µs | W3 s | W3 speedup | W4 s | W4 speedup | W5 s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in rows {
    let w3 = row.w3!, w4 = row.w4!
    print(
        "| \(row.name) | \(cell(row.w1!, rate)) | \(cell(row.w2p50!) { fmt($0, 2) }) | \(cell(row.w2p99!) { fmt($0, 2) }) "
            + "| \(cell(w3) { fmt($0, 3) }) | \(fmt(seq3 / w3.median, 2)) | \(cell(w4) { fmt($0, 4) }) | \(fmt(seq4 / w4.median, 2)) "
            + "| \(cell(row.w5!) { fmt($0, 3) }) |")
}
let b = Summary(values: batchedW1)
let p = Summary(values: parallelForW4)
print(
    "| Interprocess, `execute(contentsOf:)` ×\(PoolWorkload.batchSize) / `parallelFor` | \(cell(b, rate)) | – | – | – | – | \(cell(p) { fmt($0, 4) }) | \(fmt(seq4 / p.median, 2)) | – |"
)
let l = Summary(values: limitW3)
print(
    "| C threads, one atomic index (W3's limit) | – | – | – | \(cell(l) { fmt($0, 3) }) | \(fmt(seq3C / l.median, 2)) | – | – | – |"
)
let limitRatios = zip(raw[0]["w3"]!, limitW3).map { $0 / $1 }
print(
    "W3, Interprocess ThreadPool / C threads, per repetition (adjacent in time): "
        + limitRatios.map { fmt($0, 3) }.joined(separator: ", ")
        + "; median \(fmt(Summary(values: limitRatios).median, 3))")
print("")
print("Sequential (main thread): W3 \(fmt(seq3, 3)) s, W4 \(fmt(seq4, 4)) s; W3 in C \(fmt(seq3C, 3)) s.")
if idlePercent >= 0 {
    print(
        "Idle Interprocess pool (2 workers) over \(idleSeconds) s: its worker threads \(fmt(idlePoolPercent, 3)) % of one core; whole process \(fmt(idlePercent, 3)) %."
    )
}
