import Foundation
import Glibc
import Interprocess

// The pieces the bench harness shares between its workloads: the clock, failures,
// percentiles, the machine description, pinning, plain descriptors.

/// Nanoseconds on `CLOCK_MONOTONIC` (read directly: the timed loops read it once per reply).
@inline(__always)
package func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Why a bench workload failed, in one sentence.
struct BenchFailure: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}

/// Round-trip latency percentiles (nearest rank).
package struct LatencySummary: Codable {
    package var n: Int
    package var p50_ns: UInt64
    package var p99_ns: UInt64
    package var p999_ns: UInt64

    /// Sorts `samples` and picks `sorted[ceil(p·n) − 1]` for p = 0.5, 0.99, 0.999.
    package init(samples: inout [UInt64]) {
        samples.sort()
        n = samples.count
        func rank(_ perMille: Int) -> UInt64 {
            guard !samples.isEmpty else { return 0 }
            // ceil(n · p) in integers, so 0.999 · n is not rounded the wrong way.
            let r = (samples.count * perMille + 999) / 1000
            return samples[max(1, r) - 1]
        }
        p50_ns = rank(500)
        p99_ns = rank(990)
        p999_ns = rank(999)
    }
}

/// The machine the bench ran on.
struct MachineDescription: Codable {
    /// `/proc/cpuinfo`'s `vendor_id` (`AuthenticAMD`, `GenuineIntel`; "unknown vendor" where
    /// the kernel gives none, as on ARM).
    var vendor: String
    /// `/proc/cpuinfo`'s `model name`.
    var cpu: String
    var onlineCPUs: Int
    var availableCPUs: Int
    var kernel: String
    var build: String
    var pinned: Bool
    /// `/proc/loadavg`'s 1-, 5- and 15-minute load averages when the run started: spinning
    /// figures mean little when other work competes for the two pinned cores.
    var loadAverage: String

    static func current() -> MachineDescription {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func cpuinfoField(_ key: String) -> String? {
            guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
                let colon = line.firstIndex(of: ":")
            else { return nil }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let model = cpuinfoField("model name") ?? "unknown CPU"
        let vendor = cpuinfoField("vendor_id") ?? "unknown vendor"
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        #if DEBUG
            let build = "debug"
        #else
            let build = "release"
        #endif
        return MachineDescription(
            vendor: vendor, cpu: model, onlineCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            availableCPUs: CPU.availableCount,
            kernel: "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))", build: build,
            pinned: CPU.availableCount >= 2, loadAverage: loadAverage())
    }

    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    var line: String {
        "\(vendor) \(cpu), \(availableCPUs) of \(onlineCPUs) CPUs usable, \(kernel), \(build) build"
            + (pinned ? ", sender/ping on core 0, receiver/pong on core 1" : ", not pinned (one CPU)")
            + ", load average \(loadAverage) at start"
    }
}

/// Pins the calling thread to `core`.
///
/// Only the parent decides whether to pin (when it may use at least two CPUs) and tells the
/// child which core to take: a child inherits the parent's affinity, which is core 0 alone once
/// the parent has pinned itself, so a child that counted its own usable CPUs would see one
/// and stay on core 0 with the parent.
func pinForBench(core: Int) {
    do { try CPU.pinCurrentThread(to: core) } catch {
        BenchOutput.error("bench: could not pin to core \(core): \(error)")
    }
}

/// The CPU the calling thread last ran on: field 39 of `/proc/thread-self/stat` (Glibc's
/// `sched_getcpu` needs `_GNU_SOURCE`, which the Swift overlay does not define).
func currentCPU() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    // After the command name in parentheses come fields 3, 4, …; the processor is field 39.
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 36 ? Int(fields[36]) : nil
}

// MARK: - Plain file descriptors (pipe and socket baselines)

/// Writes all of `count` bytes at `buffer`, retrying partial writes and EINTR.
@inline(__always)
func writeFully(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws {
    var done = 0
    while done < count {
        let n = Glibc.write(fd, buffer + done, count - done)
        if n > 0 {
            done += n
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            throw BenchFailure("write failed: \(String(cString: strerror(errno)))")
        }
    }
}

/// Reads exactly `count` bytes into `buffer`; returns `false` at end of file before any byte.
@inline(__always)
func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws -> Bool {
    var done = 0
    while done < count {
        let n = Glibc.read(fd, buffer + done, count - done)
        if n > 0 {
            done += n
        } else if n == 0 {
            if done == 0 { return false }
            throw BenchFailure("end of file inside a message")
        } else if errno != EINTR {
            throw BenchFailure("read failed: \(String(cString: strerror(errno)))")
        }
    }
    return true
}

/// A page-aligned, pre-faulted buffer (a non-zero write into every page, so page faults never
/// land in a timed loop).
func prefaultedBuffer(_ size: Int) -> UnsafeMutableRawBufferPointer {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
    for i in stride(from: 0, to: size, by: 1) { buffer[i] = UInt8(truncatingIfNeeded: i | 1) }
    return buffer
}
