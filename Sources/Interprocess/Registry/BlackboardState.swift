import Synchronization

/// A snapshot of a blackboard's shared state, for inspection: its configuration, whether a
/// writer holds the role, and its keys with their types and versions.
///
/// The configuration comes from the checksummed header; everything else from words the writer
/// (or anyone who can write the file) wrote: the key count is checked against the capacity and
/// every directory entry as a reader checks it; the first entry out of bounds ends the listing
/// and is reported in ``problem``. Whether a writer is alive comes from the kernel's lock on the
/// writer role, never from a word.
public struct BlackboardState: Sendable, Hashable {
    /// The blackboard's configuration.
    public let configuration: BlackboardConfiguration
    /// Whether a live process holds the writer role.
    public let hasWriter: Bool
    /// How many writers took the role since the blackboard was created.
    public let writerGeneration: UInt64
    /// The keys, in the order they were added, with the versions of their values.
    public let keys: [BlackboardKeyInfo]
    /// The bytes of the value space the keys take.
    public let valueSpaceUsed: Int
    /// Why the listing of the keys stopped early (a count or an entry out of bounds), or `nil`.
    public let problem: String?

    /// The state of the blackboard described by `header`, read from a read-only mapping of `fd`,
    /// or `nil` if `header` is not a blackboard's, its layout is out of bounds, or the file is
    /// too small for it.
    static func read(_ header: SharedObjectInfo.Header, fd: Int32, fileSize: Int) -> BlackboardState? {
        guard header.kind == .blackboard, let layout = BlackboardLayout(kindParameters: header.kindParameters),
            layout.payloadSize <= fileSize - SegmentHeader.size
        else { return nil }
        let length = SegmentHeader.size + layout.payloadSize
        guard let mapping = try? FileSystem.map(fd, length: length, writable: false, pages: .onFirstTouch) else {
            return nil
        }
        defer { FileSystem.unmap(mapping, length: length) }
        let payload = UnsafeRawPointer(mapping + SegmentHeader.size)
        // Relaxed loads throughout: a diagnostic snapshot; an entry is read only below the count
        // and checked field by field, so a torn one is reported, not followed.
        func word(_ offset: Int, _: UInt64.Type) -> UInt64 {
            UnsafeMutableRawPointer(mutating: payload + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee
                .load(ordering: .relaxed)
        }
        func word(_ offset: Int, _: UInt32.Type) -> UInt32 {
            UnsafeMutableRawPointer(mutating: payload + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee
                .load(ordering: .relaxed)
        }
        var keys: [BlackboardKeyInfo] = []
        var used = 0
        var problem: String? = nil
        let count = Int(word(BlackboardLayout.keyCount, UInt32.self))
        if count > layout.keyCapacity { problem = "the key count \(count) exceeds the capacity \(layout.keyCapacity)" }
        for i in 0..<min(count, layout.keyCapacity) {
            do throws(BlackboardError) {
                let entry = try BlackboardStorage.entry(at: i, payload: payload, layout: layout)
                keys.append(
                    BlackboardKeyInfo(
                        name: entry.name, valueType: entry.type,
                        version: word(entry.slot + BlackboardLayout.slotVersion, UInt64.self)))
                used = max(used, entry.slot - layout.valueArea + BlackboardLayout.slotSize(valueSize: entry.type.size))
            } catch {
                problem = problem ?? "\(error)"
                break
            }
        }
        if BusErrorGuard.isPoisoned(mapping) { problem = "the file lost pages while it was read" }
        // A failed query counts as a live writer (a wrong "alive" misleads less than a wrong "none").
        let writer: Bool
        do {
            writer =
                try FileSystem.conflictingLock(fd, write: false, start: BlackboardLayout.writerLockByte, length: 1)
                != nil
        } catch {
            writer = true
        }
        return BlackboardState(
            configuration: layout.configuration, hasWriter: writer,
            writerGeneration: word(BlackboardLayout.writerGeneration, UInt64.self), keys: keys, valueSpaceUsed: used,
            problem: problem)
    }
}
