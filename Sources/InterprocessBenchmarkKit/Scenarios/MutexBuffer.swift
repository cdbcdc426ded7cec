import Interprocess

// The seed's scenario as a bounded buffer of the library's primitives: `shm bench`'s
// `mutex-buffer` row and the paired benchmarks (`Benchmarks/Sources/PairedLimits`) run this
// same code.

/// Why a bounded buffer failed, in one sentence.
package struct MutexBufferFailure: Error, CustomStringConvertible {
    package let reason: String
    init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// A bounded buffer of `capacity` slots of `slotSize` bytes: the slots in a `SharedArray<UInt8>`,
/// the counts of messages put and taken in a `SharedArray<UInt64>` (changed only under
/// `mutex`), `notEmpty` notified after a put and `notFull` after a take (after unlocking, so
/// the woken side does not find the mutex still held).
package struct MutexBuffer {
    package let slots: SharedArray<UInt8>
    package let counts: SharedArray<UInt64>
    package let mutex: ProcessMutex
    package let notEmpty: ProcessCondition
    package let notFull: ProcessCondition
    package let capacity: Int
    package let slotSize: Int
    /// The first slot: valid while `slots` is held (the handle keeps the segment mapped).
    private let base: UnsafeMutableRawPointer

    package static func names(_ base: String) -> [String] {
        [".slots", ".counts", ".lock", ".notempty", ".notfull"].map { base + $0 }
    }

    /// Creates the buffer's objects (`create`) or opens them, and checks their sizes; the
    /// caller removes them (`names`).
    package init(_ name: String, capacity: Int, slotSize: Int, create: Bool) throws {
        let names = Self.names(name)
        let mode: SharedMemory.OpenMode = create ? .create : .open
        slots =
            create
            ? try SharedArray<UInt8>(named: names[0], count: capacity * slotSize, initialValue: 0, mode: .create)
            : try SharedArray<UInt8>(named: names[0])
        counts =
            create
            ? try SharedArray<UInt64>(named: names[1], count: 2, initialValue: 0, mode: .create)
            : try SharedArray<UInt64>(named: names[1])
        guard slots.count == capacity * slotSize, counts.count == 2 else {
            throw MutexBufferFailure("the bounded buffer \(name) has other sizes")
        }
        mutex = try ProcessMutex(named: names[2], mode: mode)
        notEmpty = try ProcessCondition(named: names[3], mode: mode)
        notFull = try ProcessCondition(named: names[4], mode: mode)
        self.capacity = capacity
        self.slotSize = slotSize
        base = slots.withUnsafeMutableBufferPointer { UnsafeMutableRawPointer($0.baseAddress!) }
    }

    @inline(__always)
    private func lock() throws {
        switch try mutex.lock() {
        case .acquired: return
        case .previousOwnerDied: throw MutexBufferFailure("the other side died holding the mutex")
        case .timedOut: throw MutexBufferFailure("the mutex timed out without a timeout")
        }
    }

    /// Copies `slotSize` bytes from `message` into the next slot, waiting while the buffer is full.
    @inline(__always)
    package func put(_ message: UnsafeRawPointer) throws {
        try lock()
        // The counts are read from shared memory, but only their difference and their value
        // modulo the capacity are used: every slot address is in bounds whatever they hold.
        while counts[0] &- counts[1] >= UInt64(capacity) { _ = try notFull.wait(on: mutex) }
        let put = counts[0]
        (base + Int(put % UInt64(capacity)) * slotSize).copyMemory(from: message, byteCount: slotSize)
        counts[0] = put &+ 1
        try mutex.unlock()
        notEmpty.notifyOne()
    }

    /// Copies the oldest slot out into `message`, waiting while the buffer is empty.
    @inline(__always)
    package func take(into message: UnsafeMutableRawPointer) throws {
        try lock()
        while counts[0] == counts[1] { _ = try notEmpty.wait(on: mutex) }
        let taken = counts[1]
        message.copyMemory(from: base + Int(taken % UInt64(capacity)) * slotSize, byteCount: slotSize)
        counts[1] = taken &+ 1
        try mutex.unlock()
        notFull.notifyOne()
    }
}
