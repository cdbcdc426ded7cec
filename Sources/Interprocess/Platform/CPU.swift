import CInterprocess
import Glibc
import SystemPackage

/// Facts about and settings of the CPUs this process runs on.
package enum CPU {
    /// The number of CPUs this process may use: its affinity mask, further limited by a cgroup
    /// CPU quota (`cpu.max` on cgroup v2, `cpu.cfs_quota_us` on v1), and never less than 1.
    package static var availableCount: Int {
        var count = Int(max(1, cipc_affinity_cpu_count()))
        if let quota = cgroupQuota() { count = min(count, max(1, quota)) }
        return count
    }

    /// The cgroup CPU quota rounded up to whole CPUs, or `nil` if unlimited or unknown.
    static func cgroupQuota() -> Int? {
        if let line = ProcFile.text("/sys/fs/cgroup/cpu.max") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let quota = Double(parts[0]), let period = Double(parts[1]), period > 0 {
                return Int((quota / period).rounded(.up))
            }
            return nil  // "max 100000": unlimited
        }
        if let q = ProcFile.text("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").flatMap(Double.init),
            let p = ProcFile.text("/sys/fs/cgroup/cpu/cpu.cfs_period_us").flatMap(Double.init),
            q > 0, p > 0
        {
            return Int((q / p).rounded(.up))
        }
        return nil
    }

    /// Pins the calling thread to `cpu`.
    ///
    /// The corresponding C function is `sched_setaffinity`.
    package static func pinCurrentThread(to cpu: Int) throws(Errno) {
        if let e = Errno(shimResult: cipc_pin_current_thread(Int32(cpu))) { throw e }
    }

    /// A hint to the processor that the caller is spinning (PAUSE on x86).
    @inlinable @inline(__always)
    package static func relax() { cipc_cpu_relax() }

    /// A hint to the processor to bring the cache line at `address` into this core's cache
    /// for writing (PREFETCHW on x86-64): ownership of the line moves while the caller does
    /// other work. Never faults, whatever the address.
    @inlinable @inline(__always)
    package static func prefetchForWriting(_ address: UnsafeRawPointer) { cipc_prefetch_for_write(address) }
}
