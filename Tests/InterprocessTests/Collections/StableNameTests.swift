import Interprocess
import Testing

/// A stable name replaces the module-qualified name in the fingerprint; the layout is still
/// checked.
@Suite struct StableNameTests {
    struct First: StablyNamed {
        static let stableName = "interprocess.tests.Pair.v1"
        var a: UInt32
        var b: UInt32
    }
    struct Second: StablyNamed {
        static let stableName = "interprocess.tests.Pair.v1"
        var left: UInt32
        var right: UInt32
    }
    /// The same name over a grown layout: what a struct that gained a field looks like.
    struct Grown: StablyNamed {
        static let stableName = "interprocess.tests.Pair.v1"
        var a: UInt32
        var b: UInt32
        var c: UInt32
    }
    struct Unnamed {
        var a: UInt32
        var b: UInt32
    }

    @Test func fingerprints() {
        #expect(ElementType(First.self) == ElementType(Second.self))
        #expect(ElementType(First.self).name == "interprocess.tests.Pair.v1")
        #expect(ElementType(First.self) != ElementType(Grown.self))
        #expect(ElementType(First.self) != ElementType(Unnamed.self))
        #expect(ElementType(Unnamed.self).name == String(reflecting: Unnamed.self))
    }

    @Test func anArrayIsOpenedUnderAnotherTypeOfTheSameStableName() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let created = try SharedArray<First>(named: name, count: 4, initialValue: First(a: 1, b: 2), mode: .create)
        let opened = try SharedArray<Second>(named: name)
        #expect(opened[3].left == 1 && opened[3].right == 2)
        opened[0] = Second(left: 7, right: 8)
        #expect(created[0].a == 7 && created[0].b == 8)
        do {
            _ = try SharedArray<Grown>(named: name)
            Issue.record("a grown layout under the same name was accepted")
        } catch {
            #expect(
                error
                    == .mismatch(
                        name: name, .elementType(expected: ElementType(Grown.self), found: ElementType(First.self))))
        }
    }
}
