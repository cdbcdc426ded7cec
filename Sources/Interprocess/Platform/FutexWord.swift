import Synchronization

/// A 32-bit atomic at a stable address, usable both atomically and as a futex.
///
/// The kernel sleeps on an address, and an `Atomic` stored as a Swift property has none, so a
/// futex word is always memory placed by hand: a word at an offset of a shared mapping
/// (``init(at:)``; every process of the same layout reads the same word there), or a word on
/// the heap for in-process use (``allocate(initialValue:)``). Each owner documents the word's
/// values where it declares it.
///
/// A copy names the same word. Unsafe: the memory must stay mapped (or allocated) while any
/// thread may still wait on or wake the word; a heap word is deallocated exactly once, after
/// every such thread is done.
@usableFromInline
package struct FutexWord: @unchecked Sendable {
    /// The word as the kernel sees it.
    @usableFromInline package let address: UnsafeMutablePointer<UInt32>

    /// Names the word at `address`, which another party initialised (in shared memory: the
    /// segment's creator, whose zeroed payload or `initializeMemory` placed it).
    ///
    /// - Precondition: `address` is 4-byte aligned.
    @inlinable
    package init(at address: UnsafeMutableRawPointer) {
        self.address = address.assumingMemoryBound(to: UInt32.self)
    }

    /// Allocates a word on the heap holding `initialValue`; release it with ``deallocate()``.
    package static func allocate(initialValue: UInt32) -> FutexWord {
        let storage = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: 1)
        storage.initialize(to: Atomic(initialValue))
        return FutexWord(at: UnsafeMutableRawPointer(storage))
    }

    /// Releases a word made by ``allocate(initialValue:)``.
    package func deallocate() {
        atomic.deinitialize(count: 1)
        atomic.deallocate()
    }

    /// The word as an atomic. It was placed in memory by hand, never as a Swift value, so the
    /// pointer cast is the only way to name it.
    @inlinable @inline(__always)
    package var atomic: UnsafeMutablePointer<Atomic<UInt32>> {
        UnsafeMutableRawPointer(address).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Sleeps while the word holds `expected`, until woken or `deadline` passes (see
    /// ``Futex/wait(_:expecting:deadline:)`` for `EINTR` and a lost page).
    @inlinable
    package func wait(expecting expected: UInt32, deadline: Deadline) -> Futex.WaitResult {
        Futex.wait(address, expecting: expected, deadline: deadline)
    }

    /// Wakes at most `count` sleepers; returns how many were woken.
    @inlinable @discardableResult
    package func wake(count: Int32 = 1) -> Int { Futex.wake(address, count: count) }

    /// Wakes every sleeper; returns how many were woken.
    @inlinable @discardableResult
    package func wakeAll() -> Int { Futex.wakeAll(address) }
}
