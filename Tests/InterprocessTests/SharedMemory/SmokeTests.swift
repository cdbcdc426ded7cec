import Testing
@testable import Interprocess

@Suite struct SmokeTests {
    @Test func createOpenLockArray() throws {
        let name = "smoke-\(ProcessIdentity.current.pid)-\(UInt32.random(in: 0...UInt32.max))"
        let a = try SharedArray<Int>(named: name, count: 5, initialValue: -1, mode: .create)
        defer { try? a.remove() }
        #expect(a.elements == [-1, -1, -1, -1, -1])
        a[2] = 2
        let b = try SharedArray<Int>(named: name)
        #expect(b[2] == 2)
        #expect(b.count == 5)
        #expect(throws: SharedMemoryError.self) { try SharedArray<Int32>(named: name) }
        let m = try ProcessMutex(named: name + ".lock", mode: .create)
        defer { try? m.segment.remove() }
        #expect(try m.lock() == .acquired)
        try m.unlock()
        let c = try ProcessCondition(named: name + ".cond")
        defer { try? c.segment.remove() }
        #expect(try m.lock() == .acquired)
        let start = Deadline.now
        #expect(try c.wait(on: m, timeout: .milliseconds(50)) == .timedOut)
        #expect(Deadline.now.uptimeNanoseconds - start.uptimeNanoseconds >= 50_000_000)
        try m.unlock()
        let list = try SharedObjectRegistry.list()
        #expect(list.contains { $0.name == name })
    }
}
