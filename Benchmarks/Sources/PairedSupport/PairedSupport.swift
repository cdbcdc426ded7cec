// What the paired benchmarks (PairedRoundTrips, PairedStreams) share: a second thread, pinning,
// the monotonic clock, and the summaries of their per-pair ratios.
import Glibc

/// Starts a thread that runs `body` (a failure ends the process: a benchmark has no one to
/// report to but its output).
public func startThread(named name: String, _ body: @escaping @Sendable () throws -> Void) -> pthread_t {
    final class Box: Sendable {
        let name: String, body: @Sendable () throws -> Void
        init(_ name: String, _ body: @escaping @Sendable () throws -> Void) { (self.name, self.body) = (name, body) }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
    guard
        pthread_create(
            &thread, nil,
            { context in
                let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
                do { try box.body() } catch { fatalError("\(box.name): \(error)") }
                return nil
            }, context) == 0
    else { fatalError("pthread_create") }
    return thread
}

// Glibc's overlay leaves `sched_setaffinity` out (it needs `_GNU_SOURCE`).
@_silgen_name("sched_setaffinity")
func setAffinity(_ pid: Int32, _ size: Int, _ mask: UnsafeRawPointer) -> Int32

/// Pins the calling thread to `core`.
public func pin(_ core: Int) {
    var mask = [UInt64](repeating: 0, count: 16)
    mask[core / 64] = 1 << UInt64(core % 64)
    guard setAffinity(0, mask.count * 8, mask) == 0 else { fatalError("cannot pin to core \(core)") }
}

/// The monotonic clock, in nanoseconds.
public func now() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// The median of `samples` (sorted in place).
public func median(_ samples: inout [UInt64]) -> Double {
    samples.sort()
    return Double(samples[samples.count / 2])
}

/// The `q` quantile of `values` (nearest rank).
public func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
}

/// `value` with `digits` decimals, or "–" for none.
public func format(_ value: Double?, digits: Int = 2) -> String {
    guard let value else { return "–" }
    guard digits > 0 else { return "\(Int(value.rounded()))" }
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    let fraction = String(scaled % scale)
    return "\(scaled / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}
