import SystemPackage

extension SharedMemory {
    /// Whether the segment lost pages while this process used it: its file was truncated, or
    /// pages were removed from it that could not be given back.
    ///
    /// Touching a lost page does not kill the process: the `SIGBUS` guard replaces the lost
    /// part of the mapping, from that page on, with zero pages private to this process, and
    /// the access completes there. The segment then no longer shares those bytes with anyone,
    /// so it cannot be trusted any more; remove it and create it again. The answer is also
    /// `true` when the file is now shorter than the mapping although no lost page was touched
    /// yet. Once `true`, it stays `true`.
    ///
    /// Blocked channel operations on a damaged segment throw
    /// `ChannelError.segment(.damaged(name:))` at their next liveness check.
    ///
    /// - Complexity: an `fstat` while the segment is intact; an atomic load once damaged.
    public var isDamaged: Bool {
        if BusErrorGuard.isPoisoned(region.base) { return true }
        guard let status = try? FileSystem.status(descriptor), status.size < region.length else {
            return false
        }
        // Sticky: a file truncated and grown again lost its contents all the same.
        BusErrorGuard.markPoisoned(region.base)
        return true
    }

    /// Throws ``SharedMemoryError/damaged(name:)`` if the segment ``isDamaged``.
    func checkIntact() throws(SharedMemoryError) {
        if isDamaged { throw .damaged(name: name?.rawValue ?? "<anonymous>") }
    }
}
