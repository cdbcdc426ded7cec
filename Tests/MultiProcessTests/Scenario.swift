import Foundation
import Glibc
import Interprocess
import Testing

/// The multi-process tests, run one at a time.
///
/// Each test already runs several processes at once; on a loaded machine with few cores, running
/// tests side by side as well would only make the timing checks (a 50 ms wait must end well
/// under a second) and the counter's run time depend on what else runs. Serialising costs
/// little: most of a test's time is its children's.
@Suite(.serialized) enum MultiProcessTests {}

/// The names of one test's shared objects, unique to the test, and their removal.
///
/// The objects are named after the base name as the peer expects (`NAME.lock`, `NAME.data`, …;
/// see `Sources/InterprocessTestPeer/main.swift`). A test calls ``removeAll()`` in a `defer`
/// right after making its scenario, so a failing test leaves nothing in `/dev/shm`. (Not a
/// `deinit`: a class may be released after its last use, while children still use the names.)
struct Scenario {
    /// The base name: test label, pid and a random part.
    let name: String

    init(_ label: String) {
        name = "mp-\(label)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    var lock: String { name + ".lock" }
    var condition: String { name + ".cond" }
    var data: String { name + ".data" }
    var start: String { name + ".start" }
    var semaphore: String { name + ".sem" }
    var event: String { name + ".event" }

    /// Removes every object of the scenario that exists.
    func removeAll() {
        for object in [name, lock, condition, data, start, semaphore, event] {
            try? SharedMemory.remove(named: object)
        }
    }

    /// Creates the mutex, the condition and a zeroed `count`-element data array.
    func makeMutexConditionAndData(count: Int = 1) throws -> (ProcessMutex, ProcessCondition, SharedArray<Int>) {
        let mutex = try ProcessMutex(named: lock, mode: .create)
        let condition = try ProcessCondition(named: self.condition, mode: .create)
        let data = try SharedArray<Int>(named: data, count: count, initialValue: 0, mode: .create)
        return (mutex, condition, data)
    }
}

/// Whether the long variants of the stress tests were asked for.
let longTests = ProcessInfo.processInfo.environment["INTERPROCESS_LONG_TESTS"].map { !$0.isEmpty && $0 != "0" } ?? false

/// The milliseconds a peer reported after its result word ("timedout 51" → 51).
func reportedMilliseconds(_ line: String) throws -> Int {
    let words = line.split(separator: " ")
    guard words.count == 2, let value = Int(words[1]) else {
        throw Peer.Failure(description: "expected 'WORD MILLISECONDS', got '\(line)'")
    }
    return value
}
