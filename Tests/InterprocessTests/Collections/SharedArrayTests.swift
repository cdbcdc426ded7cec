import Testing

@testable import Interprocess

@Suite struct SharedArrayTests {
    struct Pair: BitwiseCopyable, Equatable {
        var a: Int32
        var b: Int32
    }

    @Test func createOpenCountElementsSubscript() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let array = try SharedArray<Int>(named: name, count: 5, initialValue: -1, mode: .create)
        #expect(array.segment.wasCreated)
        #expect(array.segment.kind == .array)
        #expect(array.segment.elementType == ElementType(Int.self))
        #expect(array.count == 5)
        #expect(array.elements == [-1, -1, -1, -1, -1])
        array[0] = 10
        array[4] = 14

        let opened = try SharedArray<Int>(named: name)
        #expect(!opened.segment.wasCreated)
        #expect(opened.count == 5)
        #expect(opened[0] == 10 && opened[4] == 14)
        opened[2] = 12
        #expect(array[2] == 12)

        let counted = try SharedArray<Int>(named: name, count: 5, initialValue: 99, mode: .open)
        #expect(counted.elements == [10, -1, 12, -1, 14], "opening ignores the initial value")
        let either = try SharedArray<Int>(named: name, count: 5, initialValue: 99)
        #expect(!either.segment.wasCreated)

        counted.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = i * i }
        }
        #expect(array.elements == [0, 1, 4, 9, 16])
        try array.remove()
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func structElements() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let array = try SharedArray<Pair>(named: name, count: 3, initialValue: Pair(a: 1, b: 2))
        array[1] = Pair(a: 3, b: 4)
        let opened = try SharedArray<Pair>(named: name)
        #expect(opened.elements == [Pair(a: 1, b: 2), Pair(a: 3, b: 4), Pair(a: 1, b: 2)])
        #expect(opened.segment.elementType.name.hasSuffix("Pair"))
        #expect(opened.segment.elementType.size == 8)
    }

    @Test func largeArraySpansPages() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let count = 10_000
        let array = try SharedArray<UInt16>(named: name, count: count, initialValue: 0xBEEF)
        #expect(array.segment.size == count * 2)
        #expect(array.elements.allSatisfy { $0 == 0xBEEF })
        array[count - 1] = 1
        #expect(try SharedArray<UInt16>(named: name)[count - 1] == 1)
    }

    @Test func otherElementTypeIsElementTypeMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedArray<Int>(named: name, count: 4, initialValue: 0, mode: .create)
        let expectMismatch = { (error: SharedMemoryError?, expected: ElementType) in
            guard case let .mismatch(reported, .elementType(wanted, found))? = error else {
                Issue.record("expected elementTypeMismatch, got \(String(describing: error))")
                return
            }
            #expect(reported == name)
            #expect(wanted == expected)
            #expect(found == ElementType(Int.self))
        }
        // Another size.
        expectMismatch(sharedMemoryError { _ = try SharedArray<Int32>(named: name) }, ElementType(Int32.self))
        expectMismatch(
            sharedMemoryError { _ = try SharedArray<Int32>(named: name, count: 4, initialValue: 0) },
            ElementType(Int32.self))
        // The same size, stride and alignment, another type.
        expectMismatch(sharedMemoryError { _ = try SharedArray<UInt64>(named: name) }, ElementType(UInt64.self))
        expectMismatch(sharedMemoryError { _ = try SharedArray<Double>(named: name) }, ElementType(Double.self))
        expectMismatch(sharedMemoryError { _ = try SharedArray<Pair>(named: name) }, ElementType(Pair.self))
    }

    @Test func otherCountIsCapacityMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedArray<Int>(named: name, count: 4, initialValue: 0, mode: .create)
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, count: 5, initialValue: 0) }
                == .mismatch(name: name, .capacity(expected: 5, found: 4)))
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, count: 3, initialValue: 0, mode: .open) }
                == .mismatch(name: name, .capacity(expected: 3, found: 4)))
    }

    @Test(arguments: [0, -1, Int.min])
    func nonPositiveCountIsInvalidSize(count: Int) {
        let name = uniqueName()
        #expect(
            sharedMemoryError { _ = try SharedArray<Int>(named: name, count: count, initialValue: 0) }
                == .invalidSize(count, reason: "an array holds at least one element"))
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func overflowingCountIsInvalidSize() {
        let name = uniqueName()
        defer { removeQuietly(name) }
        for count in [Int.max, Int.max / 8 + 1] {
            guard
                case .invalidSize? = sharedMemoryError({
                    _ = try SharedArray<Int>(named: name, count: count, initialValue: 0)
                })
            else {
                Issue.record("count \(count): expected invalidSize")
                continue
            }
        }
        #expect(!SharedMemory.exists(named: name))
    }

    @Test func openingARawSegmentAsAnArrayIsKindMismatch() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 64)
        #expect(
            sharedMemoryError { _ = try SharedArray<UInt8>(named: name) }
                == .mismatch(name: name, .kind(expected: .array, found: .segment)))
        #expect(
            sharedMemoryError { _ = try SharedArray<UInt8>(named: name, count: 64, initialValue: 0) }
                == .mismatch(name: name, .kind(expected: .array, found: .segment)))
    }

    @Test func elementTypeFingerprint() {
        let int = ElementType(Int.self)
        #expect(int.name == "Swift.Int")
        #expect(int.size == 8 && int.stride == 8 && int.alignment == 8)
        #expect(ElementType.none.description == "none")
        let long = ElementType(name: String(repeating: "é", count: 40), size: 1, stride: 1, alignment: 1)
        #expect(long.name.utf8.count <= ElementType.maximumNameLength)
        #expect(long.name.allSatisfy { $0 == "é" }, "cut on a character boundary")
    }
}
