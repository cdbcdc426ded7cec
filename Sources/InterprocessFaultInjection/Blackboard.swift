import Glibc
import Interprocess

// The blackboard scenario: a writer killed at a random moment of its write loop (nearly always
// mid-write: the loop is all copying) while two readers read a 4 KiB value; a successor writer
// takes the role. No read may be torn (a page whose words differ) or go back, no read may fail,
// and both readers must see the successor's values.

/// A 4 KiB value, 512 copies of one counter when written whole.
struct FaultPage: BitwiseCopyable, StablyNamed {
    static let stableName = "interprocess.fault.Page.v1"
    var words: InlineArray<512, UInt64>
    init(_ counter: UInt64) { words = InlineArray(repeating: counter) }
    var uniformCounter: UInt64? {
        let first = words[0]
        for i in words.indices where words[i] != first { return nil }
        return first
    }
}

let faultBlackboardConfiguration = BlackboardConfiguration(
    keyCapacity: 2, valueSpace: BlackboardConfiguration.bytesNeeded(forValueOfSize: 4096))

/// The successor's first counter: larger than anything the killed writer reaches.
let successorFirstCounter: UInt64 = 1 << 40

/// A victim's own deadline (main.swift's `hangDeadline` is a top-level value of the parent's
/// part, not yet initialised when a victim runs).
let victimDeadline: Duration = .seconds(30)

struct BlackboardFigures {
    var iterations = 0
    var kills = 0
    var reads = 0
    var torn = 0
    var backwards = 0
    var failedReads = 0
    var successors = 0
}

/// `victim-bb-writer PARENT NAME FIRST COUNT`: takes the writer role (retrying while a dying
/// writer still holds it), says "writing", writes pages FIRST, FIRST+1, … (COUNT of them, or until
/// killed if COUNT < 0), says "done".
func blackboardWriterVictim(parent: pid_t, name: String, first: UInt64, count: Int) throws -> Never {
    let deadline = Deadline.after(victimDeadline)
    var attempt: BlackboardWriter? = nil
    while attempt == nil {
        do { attempt = try BlackboardWriter(named: name, mode: .open) } catch {
            guard error == .writerActive, !deadline.hasPassed else { throw error }
            usleep(200)
        }
    }
    var writer = attempt.take()!
    let key = try writer.addKey("page", as: FaultPage.self)
    say("writing")
    var counter = first
    while count < 0 || counter < first + UInt64(count) {
        if counter & 1023 == 0 { exitIfOrphaned(parent) }
        try writer.write(FaultPage(counter), to: key)
        counter += 1
    }
    say("done")
    exit(0)
}

/// `victim-bb-reader PARENT NAME`: reads the key "page" until a page of the successor's
/// counters, checking each; says "ready" after the first read and "result READS TORN BACKWARDS
/// FAILED" at the end.
func blackboardReaderVictim(parent: pid_t, name: String) throws -> Never {
    let reader = try BlackboardReader(named: name)
    guard let key = try reader.waitForKey("page", as: FaultPage.self, timeout: victimDeadline) else {
        victimFail("no key 'page'")
    }
    var reads = 0, torn = 0, backwards = 0, failed = 0
    var last: UInt64 = 0
    var announced = false
    let deadline = Deadline.after(victimDeadline)
    while !deadline.hasPassed {
        let read: BlackboardValue<FaultPage>?
        do { read = try reader.read(key) } catch {
            if failed == 0 { say("failure \(error)") }
            failed += 1
            continue
        }
        guard let read else { continue }
        reads += 1
        if !announced {
            say("ready")
            announced = true
        }
        guard let counter = read.value.uniformCounter else {
            torn += 1
            continue
        }
        if counter < last { backwards += 1 }
        last = max(last, counter)
        if counter >= successorFirstCounter { break }
        if reads & 1023 == 0 { exitIfOrphaned(parent) }
    }
    say("result \(reads) \(torn) \(backwards) \(failed) \(last)")
    exit(0)
}

func runBlackboardScenario(iterations: Int) throws -> BlackboardFigures {
    var figures = BlackboardFigures()
    for iteration in 0..<iterations {
        let context = "blackboard \(iteration)"
        let name = "fault-\(getpid())-blackboard-\(iteration)"
        defer { try? SharedMemory.remove(named: name) }
        do {
            var writer = try BlackboardWriter(named: name, configuration: faultBlackboardConfiguration, mode: .create)
            try writer.addKey("page", as: FaultPage.self, initialValue: FaultPage(0))
        }
        figures.iterations += 1
        var children: [Child] = []
        defer { for c in children { c.kill() } }
        let writer = Child("bb-writer", [parentPID, name, "1", "-1"])
        let readers = (0..<2).map { _ in Child("bb-reader", [parentPID, name]) }
        children = [writer] + readers
        guard writer.waitFor(["writing"], timeout: hangDeadline) != nil,
            readers.allSatisfy({ $0.waitFor(["ready"], timeout: hangDeadline) != nil })
        else {
            violation("\(context): a victim did not start: \(children.map(\.lines))")
            continue
        }
        randomPause(maximumMicroseconds: 20_000)
        killVictim(writer, context)
        figures.kills += 1
        let successor = Child("bb-writer", [parentPID, name, String(successorFirstCounter), "2000"])
        children.append(successor)
        if finalLine(of: successor, ["done"], context) != nil { figures.successors += 1 }
        for reader in readers {
            guard let line = finalLine(of: reader, ["result"], context) else { continue }
            let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard fields.count == 5 else {
                violation("\(context): reader said '\(line)'")
                continue
            }
            figures.reads += Int(fields[0])
            figures.torn += Int(fields[1])
            figures.backwards += Int(fields[2])
            figures.failedReads += Int(fields[3])
            if fields[1] > 0 { violation("\(context): \(fields[1]) torn reads") }
            if fields[2] > 0 { violation("\(context): \(fields[2]) reads went back") }
            if fields[3] > 0 {
                let failure = reader.lines.first { $0.hasPrefix("failure") } ?? ""
                violation("\(context): \(fields[3]) reads failed (\(failure))")
            }
            if fields[4] < successorFirstCounter { violation("\(context): the successor's values were not seen") }
        }
    }
    return figures
}
