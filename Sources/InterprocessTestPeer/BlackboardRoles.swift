import Glibc
import Interprocess
import InterprocessTestSupport

/// Runs the blackboard role `role`; `false` if `role` is not a blackboard role.
func runBlackboardRole(_ role: String, name: String, _ rest: [String]) throws -> Bool {
    switch role {
    case "bb-write":
        // bb-write NAME FIRST COUNT: take the writer role of the blackboard NAME (created with
        // `BlackboardTestPage.configuration` if absent), add the key "page", say "writing", and
        // write the pages FIRST, FIRST+1, … (COUNT of them; COUNT < 0: until killed), then say
        // "done LAST" and wait for stdin to close. A writer role still held by a dying writer is
        // retried for 10 s.
        guard rest.count == 2 else { fail("usage: bb-write NAME FIRST COUNT", status: 2) }
        let first = UInt64(integer(rest[0], "FIRST"))
        let count = integer(rest[1], "COUNT")
        var writer = try takeWriterRole(name, within: .seconds(10))
        let key = try writer.addKey("page", as: BlackboardTestPage.self)
        say("writing")
        var counter = first
        while count < 0 || counter < first + UInt64(count) {
            try writer.write(BlackboardTestPage(counter), to: key)
            counter += 1
        }
        say("done \(counter - 1)")
        blockOnStdin()

    case "bb-read":
        // bb-read NAME TARGET: read the key "page" of the blackboard NAME (waiting up to 30 s
        // for it) as fast as possible, checking that every page read is uniform and that the
        // counters never go back; say "reading" after the first read and, once a page of
        // counter TARGET or more was read, "result READS TORN BACKWARDS ERRORS LAST" (exit 0).
        guard rest.count == 1 else { fail("usage: bb-read NAME TARGET", status: 2) }
        let target = UInt64(integer(rest[0], "TARGET"))
        let reader = try BlackboardReader(named: name)
        guard let key = try reader.waitForKey("page", as: BlackboardTestPage.self, timeout: .seconds(30)) else {
            fail("no key 'page' within 30 s")
        }
        var reads = 0, torn = 0, backwards = 0, errors = 0
        var last: UInt64 = 0
        var announced = false
        let deadline = Deadline.after(.seconds(60))
        while !deadline.hasPassed {
            let read: BlackboardValue<BlackboardTestPage>?
            do { read = try reader.read(key) } catch {
                errors += 1
                continue
            }
            guard let read else { continue }
            reads += 1
            guard let counter = read.value.uniformCounter else {
                torn += 1
                continue
            }
            if counter < last { backwards += 1 }
            last = max(last, counter)
            if !announced {
                say("reading")
                announced = true
            }
            if counter >= target { break }
        }
        say("result \(reads) \(torn) \(backwards) \(errors) \(last)")

    case "bb-scribble":
        // bb-scribble NAME: as a hostile writer of the file, overwrite the blackboard's key
        // count, directory and slot version words with random values in a loop (no library
        // call on the payload), say "scribbling" and go on until killed.
        let segment = try SharedMemory(existing: name)
        let words = segment.bytes.count / 8
        let directoryWords = min(words, 4096 / 8)
        say("scribbling")
        var generator = SystemRandomNumberGenerator()
        while true {
            segment.withUnsafeMutableBytes { payload in
                for _ in 0..<64 {
                    let i = Int.random(in: 0..<directoryWords, using: &generator)
                    payload.storeBytes(
                        of: UInt64.random(in: 0...3, using: &generator) << (i % 40), toByteOffset: 8 * i,
                        as: UInt64.self)
                    let j = Int.random(in: 0..<words, using: &generator)
                    payload.storeBytes(of: generator.next(), toByteOffset: 8 * j, as: UInt64.self)
                }
            }
        }

    case "bb-read-only":
        // bb-read-only NAME (run with --as-user=UID, on a blackboard of user 0 that this user may
        // only read, holding the UInt64 key "count"): a read-write reader is refused ("rw
        // OUTCOME"); a read-only one opens ("opened"), says "count V" and "keys K1,K2…", and
        // that writes are refused ("register OUTCOME", "place OUTCOME"). Then, after each
        // go-ahead line on stdin: waits for the key "added" ("added V"); waits for "count" to
        // change ("changed V"); waits for it to change through a wait set ("waitset V"); waits
        // for a "page" key and says "writer ALIVE"; then waits for the writer to die ("writer-gone").
        // Every wait ends after 20 s (a line "timeout WHAT").
        guard rest.isEmpty else { fail("usage: bb-read-only NAME", status: 2) }
        do {
            _ = try BlackboardReader(named: name, owners: .trusting(userIDs: [0]))
            say("rw ok")
        } catch {
            say("rw " + outcome(error))
        }
        let reader = try BlackboardReader(named: name, access: .readOnly, owners: .trusting(userIDs: [0]))
        say("opened \(reader.access == .readOnly ? "readOnly" : "readWrite")")
        let count = try reader.key("count", as: UInt64.self)
        say("count \(try reader.value(count).map(String.init) ?? "none")")
        say("keys " + (try reader.keys().map(\.name).joined(separator: ",")))
        do {
            _ = try reader.segment.register(as: .opener)
            say("register ok")
        } catch {
            say("register " + outcome(error))
        }
        do {
            _ = try ProcessMutex(in: reader.segment, at: 0)
            say("place ok")
        } catch {
            say("place " + outcome(error))
        }
        say("ready")

        _ = readLine()
        guard let added = try reader.waitForKey("added", as: UInt64.self, timeout: .seconds(20)) else {
            fail("timeout added")
        }
        say("added \(try reader.value(added).map(String.init) ?? "none")")

        _ = readLine()
        let seen = try reader.version(of: count)
        say("waiting")
        guard try reader.waitForChange(of: count, since: seen, timeout: .seconds(20)) != nil else {
            fail("timeout changed")
        }
        say("changed \(try reader.value(count).map(String.init) ?? "none")")

        _ = readLine()
        var waitSet = WaitSet()
        try waitSet.add(changesOf: count, in: reader)
        say("waitset-waiting")
        guard !waitSet.wait(timeout: .seconds(20)).isEmpty else { fail("timeout waitset") }
        say("waitset \(try reader.value(count).map(String.init) ?? "none")")

        _ = readLine()
        guard try reader.waitForKey("page", as: BlackboardTestPage.self, timeout: .seconds(20)) != nil else {
            fail("timeout page")
        }
        say("writer \(reader.hasWriter)")
        let gone = Deadline.after(.seconds(20))
        while reader.hasWriter {
            if gone.hasPassed { fail("timeout writer-gone") }
            usleep(1000)
        }
        say("writer-gone")

    case "bb-read-only-hostile":
        // bb-read-only-hostile NAME (as another user, like bb-read-only): opens NAME read-only and
        // says "open OUTCOME"; if it opened, "keys OUTCOME" and "value OUTCOME" (of the UInt64
        // key "count"), then "opened", and after a go-ahead line on stdin waits up to 10 s for
        // "count" to change: "wait OUTCOME". OUTCOME is "ok …" or the error's case.
        guard rest.isEmpty else { fail("usage: bb-read-only-hostile NAME", status: 2) }
        let reader: BlackboardReader
        do {
            reader = try BlackboardReader(named: name, access: .readOnly, owners: .trusting(userIDs: [0]))
            say("open ok")
        } catch {
            say("open " + outcome(error))
            return true
        }
        do { say("keys ok \(try reader.keys().count)") } catch { say("keys " + outcome(error)) }
        let count: BlackboardKey<UInt64>
        do {
            count = try reader.key("count", as: UInt64.self)
            say("value ok \(try reader.value(count).map(String.init) ?? "none")")
        } catch {
            say("value " + outcome(error))
            return true
        }
        say("opened")
        _ = readLine()
        do {
            let changed = try reader.waitForChange(
                of: count, since: try reader.version(of: count), timeout: .seconds(10))
            say("wait ok \(changed.map(String.init) ?? "timeout")")
        } catch {
            say("wait " + outcome(error))
        }

    default:
        return false
    }
    return true
}

/// The case name of `error` (the segment's case after "segment.").
func outcome(_ error: BlackboardError) -> String {
    switch error {
    case let .segment(inner): "segment." + outcome(inner)
    case .corrupt: "corrupt"
    case .keyNotFound: "keyNotFound"
    case .writerActive: "writerActive"
    case .valueUnstable: "valueUnstable"
    default: "other(\(String(describing: error).split(separator: " ").joined(separator: "_")))"
    }
}

/// The writer role of the blackboard `name`, retried while a live (or dying) writer holds it.
func takeWriterRole(_ name: String, within timeout: Duration) throws(BlackboardError) -> BlackboardWriter {
    let deadline = Deadline.after(timeout)
    while true {
        do {
            return try BlackboardWriter(named: name, configuration: BlackboardTestPage.configuration)
        } catch {
            guard error == .writerActive, !deadline.hasPassed else { throw error }
            usleep(1000)
        }
    }
}
