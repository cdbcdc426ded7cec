import Interprocess
import Testing

/// The public, scoped way to the payload: what one handle writes another reads, and the
/// closure's own error reaches the caller as itself.
@Suite struct PayloadAccessTests {
    struct Refusal: Error, Equatable { let code: Int }

    @Test func writesThroughOneHandleAreReadThroughAnother() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let writer = try SharedMemory(named: name, mode: .create, size: 256)
        let reader = try SharedMemory(named: name, mode: .open, size: 256)
        let count = writer.withUnsafeMutableBytes { payload in
            payload.storeBytes(of: 0x1234_5678_9ABC_DEF0, toByteOffset: 16, as: UInt64.self)
            payload[255] = 9
            return payload.count
        }
        #expect(count == 256)
        #expect(reader.withUnsafeBytes { $0.load(fromByteOffset: 16, as: UInt64.self) } == 0x1234_5678_9ABC_DEF0)
        #expect(reader.withUnsafeBytes { $0[255] } == 9)
        #expect(reader.withUnsafeBytes { Int(bitPattern: $0.baseAddress!) % 4096 } == 0, "page-aligned")
    }

    @Test func theClosuresErrorIsRethrownWithItsType() throws {
        let segment = try SharedMemory.anonymous(size: 64)
        do throws(Refusal) {
            try segment.withUnsafeMutableBytes { (_) throws(Refusal) in throw Refusal(code: 7) }
            Issue.record("no error")
        } catch {
            #expect(error == Refusal(code: 7))
        }
        #expect(throws: Refusal(code: 8)) {
            try segment.withUnsafeBytes { _ in throw Refusal(code: 8) }
        }
    }
}
