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

    default:
        return false
    }
    return true
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
