// Measures the StoreLoad idioms a waiter-gated wake can use (see `Platform/StoreLoad.swift` in
// the library and the "StoreLoad idiom" section of BENCHMARKS.md).
//
// Each candidate is "store my word; StoreLoad; load the other word", the shape of both halves
// of the wake protocol (a sleeper announces itself and re-checks; a waker publishes and looks
// for sleepers). Three measurements per candidate:
// - alone: one thread, nanoseconds per store-barrier-load;
// - pair: two threads (pinned to CPUs 0 and 1 when there are two) each running the loop on its
//   own word while reading the other's, nanoseconds per iteration per thread;
// - litmus: the store-buffering test (both threads store, then load the other's word, in
//   lock-step rounds); a round where both loads miss the other's store is forbidden under
//   sequential consistency, so a correct idiom shows 0. The two controls without a real
//   StoreLoad (no barrier, and a sequentially consistent load after a releasing store) show
//   how often it happens when the barrier is missing.
//
//     swift run -c release --package-path Tools/StoreLoadBenchmark [--runs 7] [--iterations 10000000]
import CStoreLoad
import Glibc
import Synchronization

protocol Idiom {
    static var name: String { get }
    /// Stores `value` to `mine`, then loads `other`, with the candidate's StoreLoad in between.
    static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64,
        _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64
    static var isControl: Bool { get }
}

extension Idiom { static var isControl: Bool { false } }

enum NoBarrier: Idiom {
    static let name = "control: release store, relaxed load"
    static let isControl = true
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        mine.pointee.store(value, ordering: .releasing)
        return other.pointee.load(ordering: .relaxed)
    }
}

enum SeqCstLoadOnly: Idiom {
    static let name = "control: release store, seq_cst load"
    static let isControl = true
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        mine.pointee.store(value, ordering: .releasing)
        return other.pointee.load(ordering: .sequentiallyConsistent)
    }
}

enum SeqCstRMW: Idiom {
    static let name = "seq_cst RMW (exchange), seq_cst load"
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        _ = mine.pointee.exchange(value, ordering: .sequentiallyConsistent)
        return other.pointee.load(ordering: .sequentiallyConsistent)
    }
}

enum SeqCstStoreAndLoad: Idiom {
    static let name = "seq_cst store, seq_cst load"
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        mine.pointee.store(value, ordering: .sequentiallyConsistent)
        return other.pointee.load(ordering: .sequentiallyConsistent)
    }
}

enum SwiftFence: Idiom {
    static let name = "relaxed + atomicMemoryFence(seq_cst)"
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        mine.pointee.store(value, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return other.pointee.load(ordering: .relaxed)
    }
}

enum LockedAdd: Idiom {
    static let name = "relaxed + asm lock add to the stack"
    @inline(__always) static func storeThenLoad(
        _ mine: UnsafeMutablePointer<Atomic<UInt64>>, _ value: UInt64, _ other: UnsafeMutablePointer<Atomic<UInt64>>
    ) -> UInt64 {
        mine.pointee.store(value, ordering: .relaxed)
        csl_locked_add_barrier()
        return other.pointee.load(ordering: .relaxed)
    }
}

// MARK: - Harness

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let v = Int(arguments[i + 1]) else {
        return fallback
    }
    return v
}
let runs = option("--runs", 7)
let iterations = option("--iterations", 10_000_000)
let litmusRounds = option("--litmus-rounds", 1_000_000)
let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Two words 128 bytes apart (each on its own pair of cache lines), and spare lines for the
/// litmus test's lock-step counters.
final class Words: @unchecked Sendable {
    let base: UnsafeMutablePointer<Atomic<UInt64>>
    static let stride = 128 / MemoryLayout<Atomic<UInt64>>.stride
    init() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 128 * 4, alignment: 128)
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: 4 * Self.stride)
        for i in 0..<(4 * Self.stride) { (base + i).initialize(to: Atomic(0)) }
    }
    subscript(_ line: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { base + line * Self.stride }
    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

let sink = Atomic<UInt64>(0)

func consume(_ v: UInt64) { sink.wrappingAdd(v, ordering: .relaxed) }

@inline(never)
func alone<I: Idiom>(_: I.Type, words: Words) -> Double {
    let a = words[0], b = words[1]
    var acc: UInt64 = 0
    let start = now()
    for i in 0..<UInt64(iterations) { acc &+= I.storeThenLoad(a, i, b) }
    let elapsed = now() - start
    consume(acc)
    return Double(elapsed) / Double(iterations)
}

final class ThreadBox: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

func spawn(_ body: @escaping () -> Void) -> pthread_t {
    var thread = pthread_t()
    let box = Unmanaged.passRetained(ThreadBox(body)).toOpaque()
    let rc = pthread_create(
        &thread, nil,
        { arg in
            Unmanaged<ThreadBox>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
    precondition(rc == 0, "pthread_create: \(rc)")
    return thread
}

@inline(never)
func pair<I: Idiom>(_: I.Type, words: Words) -> Double {
    let a = words[0], b = words[1], go = words[2]
    let n = UInt64(iterations)
    let other = spawn {
        if cpus >= 2 { _ = csl_pin(1) }
        while go.pointee.load(ordering: .acquiring) == 0 {}
        var acc: UInt64 = 0
        for i in 0..<n { acc &+= I.storeThenLoad(b, i, a) }
        consume(acc)
    }
    if cpus >= 2 { _ = csl_pin(0) }
    go.pointee.store(1, ordering: .releasing)
    var acc: UInt64 = 0
    let start = now()
    for i in 0..<n { acc &+= I.storeThenLoad(a, i, b) }
    let elapsed = now() - start
    pthread_join(other, nil)
    go.pointee.store(0, ordering: .relaxed)
    consume(acc)
    return Double(elapsed) / Double(iterations)
}

/// Rounds (of `litmusRounds`) in which both threads' loads missed the other's store.
@inline(never)
func litmus<I: Idiom>(_: I.Type, words: Words) -> Int {
    let x = words[0], y = words[1], doneA = words[2], doneB = words[3]
    for w in [x, y, doneA, doneB] { w.pointee.store(0, ordering: .relaxed) }
    let rounds = UInt64(litmusRounds)
    let seenByA = UnsafeMutablePointer<UInt64>.allocate(capacity: litmusRounds + 1)
    let seenByB = UnsafeMutablePointer<UInt64>.allocate(capacity: litmusRounds + 1)
    defer {
        seenByA.deallocate()
        seenByB.deallocate()
    }
    let other = spawn {
        if cpus >= 2 { _ = csl_pin(1) }
        for r in 1...rounds {
            // Lock-step: start round r only once A has finished round r-1.
            while doneA.pointee.load(ordering: .acquiring) < r - 1 {}
            seenByB[Int(r)] = I.storeThenLoad(y, r, x)
            doneB.pointee.store(r, ordering: .releasing)
        }
    }
    if cpus >= 2 { _ = csl_pin(0) }
    for r in 1...rounds {
        while doneB.pointee.load(ordering: .acquiring) < r - 1 {}
        seenByA[Int(r)] = I.storeThenLoad(x, r, y)
        doneA.pointee.store(r, ordering: .releasing)
    }
    pthread_join(other, nil)
    var violations = 0
    for r in 1...litmusRounds where seenByA[r] < UInt64(r) && seenByB[r] < UInt64(r) { violations += 1 }
    return violations
}

func oneDecimal(_ v: Double) -> String {
    let tenths = Int((v * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func cpuModel() -> String {
    guard let file = fopen("/proc/cpuinfo", "r") else { return "unknown" }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0 {
        let text = String(cString: line!)
        if text.hasPrefix("model name") {
            return text.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: " \n\t") } ?? text
        }
    }
    return "unknown"
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}

/// One entry per idiom, each calling the harness specialised for it (an existential would add a
/// witness-table call to every iteration).
struct Candidate {
    let name: String
    let alone: (Words) -> Double
    let pair: (Words) -> Double
    let litmus: (Words) -> Int
    init<I: Idiom>(_ i: I.Type) {
        name = I.name
        alone = { StoreLoadBenchmark.alone(I.self, words: $0) }
        pair = { StoreLoadBenchmark.pair(I.self, words: $0) }
        litmus = { StoreLoadBenchmark.litmus(I.self, words: $0) }
    }
}

let candidates = [
    Candidate(NoBarrier.self), Candidate(SeqCstLoadOnly.self), Candidate(SeqCstRMW.self),
    Candidate(SeqCstStoreAndLoad.self), Candidate(SwiftFence.self), Candidate(LockedAdd.self)
]
let words = Words()
print("CPU: \(cpuModel()), \(cpus) online; \(runs) runs of \(iterations) iterations; litmus \(litmusRounds) rounds")
print("| idiom | alone ns (median, min–max) | pair ns/thread (median, min–max) | litmus violations |")
print("|---|---:|---:|---:|")
// Interleaved: every run measures every idiom once, so drift spreads over all of them.
var aloneTimes = [[Double]](repeating: [], count: candidates.count)
var pairTimes = [[Double]](repeating: [], count: candidates.count)
for _ in 0..<runs {
    for (k, candidate) in candidates.enumerated() {
        aloneTimes[k].append(candidate.alone(words))
        pairTimes[k].append(candidate.pair(words))
    }
}
func summary(_ v: [Double]) -> String {
    "\(oneDecimal(median(v))) (\(oneDecimal(v.min()!))–\(oneDecimal(v.max()!)))"
}
for (k, candidate) in candidates.enumerated() {
    let violations = candidate.litmus(words)
    print("| \(candidate.name) | \(summary(aloneTimes[k])) | \(summary(pairTimes[k])) | \(violations) |")
}
if sink.load(ordering: .relaxed) == 42 { print("") }
