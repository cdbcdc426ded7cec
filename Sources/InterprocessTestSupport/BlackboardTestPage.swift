import Interprocess

/// A 4 KiB blackboard value: 512 copies of one counter when written whole, so a torn read (part
/// of one write, part of another) is seen as a page that is not uniform.
package struct BlackboardTestPage: BitwiseCopyable, StablyNamed {
    package static let stableName = "interprocess.tests.BlackboardTestPage.v1"
    package var words: InlineArray<512, UInt64>

    /// The page of `counter`.
    package init(_ counter: UInt64) { words = InlineArray(repeating: counter) }

    /// The counter, if every word holds it.
    package var uniformCounter: UInt64? {
        let first = words[0]
        for i in words.indices where words[i] != first { return nil }
        return first
    }

    /// The configuration of the test blackboards: a few keys and room for four pages.
    package static let configuration = BlackboardConfiguration(
        keyCapacity: 8, valueSpace: 4 * BlackboardConfiguration.bytesNeeded(forValueOfSize: 4096))
}
