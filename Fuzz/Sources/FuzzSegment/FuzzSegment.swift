// libFuzzer target: every path that reads a segment written by someone else.
//
// Input: one control byte, then the bytes of a segment file (header + payload). The control
// byte's bit 0 asks the harness to recompute the header checksum and bit 1 to force the state
// word to `ready`, so that mutations reach the code behind header validation (a random byte
// flip almost never keeps the FNV-1a checksum right).
//
// The file is written to `interprocess.fuzz` in a private shared-memory directory
// (INTERPROCESS_SHM_DIRECTORY, a fresh temporary directory), then opened as every object kind
// with zero timeouts and non-blocking calls, and inspected. Each open must throw a typed error
// or work; any crash, sanitizer report or hang (libFuzzer's -timeout) is a finding.
//
// FUZZ_WRITE_CORPUS=DIR: write valid segments of every kind (captured from real objects) and a
// few corruptions of them to DIR, and exit.

import Glibc
@_spi(Layout) import Interprocess

nonisolated(unsafe) var directory = ""
let objectName = "fuzz"
var path: String { directory + "/interprocess." + objectName }

@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    // run.sh passes a directory inside its scratch directory, which it removes however the run
    // ends (a crash or a timeout skips atexit).
    if let given = getenv("FUZZ_SHM_DIRECTORY") {
        directory = String(cString: given)
        mkdir(directory, 0o700)
    } else {
        var template = Array("/tmp/interprocess-fuzz-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        directory = String(cString: made)
    }
    setenv("INTERPROCESS_SHM_DIRECTORY", directory, 1)
    atexit {
        unlink(path)
        rmdir(directory)
    }
    if let corpus = getenv("FUZZ_WRITE_CORPUS") {
        writeCorpus(to: String(cString: corpus))
        exit(0)
    }
    return 0
}

/// Recomputes the header checksum as a writer that knows the format would (the library's own
/// `HeaderLayout.checksum(of:)`), so the input reaches the validation behind it.
func fixChecksum(_ bytes: inout [UInt8]) {
    guard bytes.count >= HeaderLayout.checksum + 8 else { return }
    let hash = bytes.withUnsafeBytes { HeaderLayout.checksum(of: $0) }
    for i in 0..<8 { bytes[HeaderLayout.checksum + i] = UInt8(truncatingIfNeeded: hash >> (8 * UInt64(i))) }
}

func writeFile(_ bytes: [UInt8]) {
    unlink(path)
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { fatalError("open \(path): errno \(errno)") }
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { fatalError("write: errno \(errno)") }
        written += n
    }
    close(fd)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let control = data[0]
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    // Bit 1: the state word says ready (2), so the input gets past the wait for its creator.
    if control & 2 != 0 && bytes.count >= HeaderLayout.stateBytes.upperBound {
        bytes.replaceSubrange(HeaderLayout.stateBytes, with: [2, 0, 0, 0])
    }
    if control & 1 != 0 { fixChecksum(&bytes) }
    writeFile(bytes)
    exerciseEveryKind()
    unlink(path)
    return 0
}

/// Opens the file as every kind of object and uses what opens, without ever waiting.
func exerciseEveryKind() {
    _ = try? SharedObjectRegistry.inspect(named: objectName)
    if let segment = try? SharedMemory(named: objectName, mode: .open, size: nil, timeout: .zero) {
        _ = segment.participants
        if segment.size > 0 { _ = segment.withUnsafeBytes { $0[segment.size - 1] } }
    }
    if let array = try? SharedArray<Int>(named: objectName, timeout: .zero) {
        if array.count > 0 { _ = array[array.count - 1] }
    }
    if let mutex = try? ProcessMutex(named: objectName, mode: .open, timeout: .zero) {
        // A fuzzed pthread mutex is garbage by design; see Fuzz/README.md for what glibc does.
        for attempt in 0..<2 {
            let result = attempt == 0 ? try? mutex.tryLock() : try? mutex.lock(timeout: .microseconds(50))
            if let result, result != .timedOut {
                if result == .previousOwnerDied { try? mutex.markConsistent() }
                try? mutex.unlock()
            }
        }
    }
    if let condition = try? ProcessCondition(named: objectName, mode: .open, timeout: .zero) {
        condition.notifyOne()
    }
    if let semaphore = try? ProcessSemaphore(named: objectName, mode: .open, timeout: .zero) {
        _ = semaphore.value
        if semaphore.tryWait() { try? semaphore.signal() }
    }
    if let event = try? ProcessEvent(named: objectName, resetMode: nil, mode: .open, timeout: .zero) {
        _ = event.isSet
        _ = event.tryWait()
        _ = event.wait(timeout: .zero)
    }
    exerciseChannel(Int.self)
    exerciseChannel(UInt8.self)
    if var receiver = try? ByteChannelReceiver(named: objectName, mode: .open, timeout: .zero) {
        for _ in 0..<4 { _ = try? receiver.receive(timeout: .zero) }
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = buffer.withUnsafeMutableBytes { try? receiver.receive(into: $0, timeout: .zero) }
    }
    if var sender = try? ByteChannelSender(named: objectName, mode: .open, timeout: .zero) {
        _ = try? sender.send([1, 2, 3], timeout: .zero)
        _ = try? sender.send([UInt8](repeating: 7, count: 100), timeout: .zero)
    }
    exerciseTopic(Int.self)
    exerciseTopic(UInt8.self)
    exerciseByteTopic()
    exerciseWaitSet()
    exerciseBlackboard()
    exerciseService()
}

/// Every object that opens, as a source of one wait set: its readiness checks, the
/// announcement on its words and one short sleep on them must return, whatever the words say.
/// The handles close at once: the wait set keeps what it watches mapped by itself.
func exerciseWaitSet() {
    var set = WaitSet()
    if let receiver = try? ChannelReceiver<Int>(named: objectName, mode: .open, timeout: .zero) {
        set.add(readable: receiver)
    }
    if let sender = try? ChannelSender<Int>(named: objectName, mode: .open, timeout: .zero) {
        set.add(writable: sender)
    }
    if let receiver = try? ByteChannelReceiver(named: objectName, mode: .open, timeout: .zero) {
        set.add(readable: receiver)
    }
    if let sender = try? ByteChannelSender(named: objectName, mode: .open, timeout: .zero) {
        set.add(writable: sender, messageSize: 8)
    }
    if let subscriber = try? TopicSubscriber<Int>(named: objectName, mode: .open, timeout: .zero) {
        set.add(readable: subscriber)
    }
    if let publisher = try? TopicPublisher<Int>(named: objectName, mode: .open, timeout: .zero) {
        set.add(writable: publisher)
    }
    if let semaphore = try? ProcessSemaphore(named: objectName, mode: .open, timeout: .zero) {
        set.add(acquiring: semaphore)
    }
    if let event = try? ProcessEvent(named: objectName, resetMode: nil, mode: .open, timeout: .zero) { set.add(event) }
    _ = set.wait(timeout: .zero)
    _ = set.wait(timeout: .microseconds(50))
}

/// A blackboard as a reader (keys, reads by name and by handle, a zero wait; read-write and
/// read-only, whose mapping any store would crash) and as a writer (taking over the directory,
/// adding and writing keys): every call must return or throw a `BlackboardError`, whatever the
/// key count, directory entries and version words say.
func exerciseBlackboard() {
    for access in [SharedMemory.Access.readWrite, .readOnly] {
        guard let reader = try? BlackboardReader(named: objectName, access: access, timeout: .zero) else { continue }
        _ = reader.hasWriter
        if let keys = try? reader.keys() {
            for info in keys.prefix(8) {
                _ = try? reader.value(forKey: info.name, as: Int.self)
                _ = try? reader.value(forKey: info.name, as: UInt8.self)
            }
        }
        if let key = try? reader.key("a", as: Int.self) {
            _ = try? reader.read(key)
            _ = try? reader.waitForChange(of: key, since: 0, timeout: .zero)
        }
        _ = try? reader.waitForKey("absent", as: Int.self, timeout: .zero)
    }
    if var writer = try? BlackboardWriter(named: objectName, mode: .open, timeout: .zero) {
        _ = writer.keys
        _ = try? writer.write(1, forKey: "a")
        if let key = try? writer.addKey("fuzz.new", as: UInt64.self, initialValue: 7) {
            _ = try? writer.write(UInt64(8), to: key)
        }
        writer.close()
    }
}

/// A service as a server alone, as a client alone, and as both at once (the client's request
/// taken and answered by the server in the same process): every call must return or throw a
/// `ServiceError`, whatever the geometry, records, slot states, rings and entries say.
///
/// Only calls that cannot wait for a live peer: zero timeouts, and (both at once) no more
/// responses than the client reads: a server waits, by design, for a live client to read.
/// Alone, the server's clients are not alive (no process holds their locks), so a full ring
/// ends its write with `clientGone` within a millisecond.
func exerciseService() {
    if var server = try? ServiceServer<Int, Int>(named: objectName, mode: .open, timeout: .zero) {
        for attempt in 0..<4 {
            guard var request = try? server.tryReceive() else { break }
            _ = request.value
            _ = request.withUnsafeRequest { $0.pointee }
            guard request.expectsResponse else { continue }
            switch attempt {
            case 0: _ = try? request.respond(1)
            case 1:
                for i in 0..<3 { _ = try? request.yield(i) }
                _ = try? request.finish()
            case 2: _ = try? request.respond { $0.initialize(to: 2) }
            default: break  // Dropped unanswered.
            }
        }
        if let request = try? server.receive(timeout: .zero) {
            _ = try? request.respond(3)
        }
        server.close()
    }
    if var client = try? ServiceClient<Int, Int>(named: objectName, mode: .open, timeout: .zero) {
        _ = client.hasServer
        _ = try? client.request(1, timeout: .zero)
        _ = try? client.request(timeout: .zero) { $0.initialize(to: 2) }
        if var pending = try? client.submit(3) {
            _ = try? pending.next(timeout: .zero)
            _ = pending.isFinished
        }
        _ = try? client.send(4, timeout: .zero)
        client.close()
    }
    guard var server = try? ServiceServer<Int, Int>(named: objectName, mode: .open, timeout: .zero),
        var client = try? ServiceClient<Int, Int>(named: objectName, mode: .open, timeout: .zero)
    else { return }
    // A stream, read as it comes: the server never writes more than one entry ahead.
    if var pending = try? client.submit(5) {
        if var request = try? server.tryReceive() {
            _ = request.value
            if request.expectsResponse {
                _ = try? request.yield(6)
                _ = try? pending.next(timeout: .zero)
                _ = try? request.finish()
                _ = try? pending.next(timeout: .zero)
            }
        }
        _ = try? pending.next(timeout: .zero)
    }
    // One response; then a request without reply, and one dropped unanswered.
    if var pending = try? client.submit(7) {
        if let request = try? server.tryReceive() { _ = try? request.respond(8) }
        _ = try? pending.next(timeout: .zero)
    }
    _ = try? client.send(9, timeout: .zero)
    if var pending = try? client.submit(10) {
        for _ in 0..<2 {
            if let request = try? server.receive(timeout: .zero), !request.expectsResponse {
                _ = try? request.respond(0)
            }
        }
        _ = try? pending.next(timeout: .zero)
    }
    client.close()
    server.close()
}

/// A topic as a subscriber (copies, samples) and as a publisher (copies, loans): every call
/// must return or throw a `TopicError`, whatever the records, queues, histories and
/// descriptors say.
func exerciseTopic<Element: BitwiseCopyable & ExpressibleByIntegerLiteral>(_: Element.Type) {
    if var subscriber = try? TopicSubscriber<Element>(named: objectName, mode: .open, timeout: .zero) {
        for _ in 0..<4 { _ = try? subscriber.tryReceive() }
        _ = try? subscriber.receive(timeout: .zero)
        if let sample = try? subscriber.tryReceiveSample() {
            _ = sample.value
            _ = sample.missedBefore
        }
        var buffer = [Element](repeating: 0, count: 4)
        _ = buffer.withUnsafeMutableBufferPointer { try? subscriber.receive(into: $0, timeout: .zero) }
        _ = subscriber.missedMessages
        subscriber.close()
    }
    if var publisher = try? TopicPublisher<Element>(named: objectName, mode: .open, timeout: .zero) {
        _ = publisher.subscriberCount
        _ = try? publisher.tryPublish(1)
        _ = try? publisher.publish(2, timeout: .zero)
        if let loan = try? publisher.loan() {
            loan.value = 3
            _ = try? publisher.publish(loan, timeout: .zero)
        }
        for _ in 0..<4 { _ = try? publisher.tryPublish(4) }
        publisher.close()
    }
}

/// The configuration of the byte topic seed (`corpus/bytetopic-*`).
let byteTopicSeed = TopicConfiguration(capacity: 4, maximumSubscribers: 2, history: 2)

func exerciseByteTopic() {
    // Opened without a configuration and with the seed's: the second also reaches the check
    // of a stated configuration against the header's.
    for configuration in [nil, byteTopicSeed] {
        let size = configuration == nil ? nil : 100
        if var subscriber = try? ByteTopicSubscriber(
            named: objectName, maximumMessageSize: size, configuration: configuration, mode: .open, timeout: .zero)
        {
            for _ in 0..<4 { _ = try? subscriber.tryReceive() }
            if let sample = try? subscriber.receiveSample(timeout: .zero) { _ = sample.withUnsafeBytes { $0.count } }
            subscriber.close()
        }
    }
    for configuration in [nil, byteTopicSeed] {
        let size = configuration == nil ? nil : 100
        guard
            var publisher = try? ByteTopicPublisher(
                named: objectName, maximumMessageSize: size, configuration: configuration, mode: .open,
                timeout: .zero)
        else { continue }
        _ = try? publisher.publish([1, 2, 3], timeout: .zero)
        _ = try? publisher.publish([UInt8](repeating: 9, count: 300), timeout: .zero)
        if let loan = try? publisher.loan() {
            loan.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 5) }
            _ = try? publisher.publish(loan, count: min(8, publisher.maximumMessageSize), timeout: .zero)
        }
        publisher.close()
    }

}

func exerciseChannel<Element: BitwiseCopyable & ExpressibleByIntegerLiteral>(_: Element.Type) {
    if var receiver = try? ChannelReceiver<Element>(named: objectName, mode: .open, timeout: .zero) {
        for _ in 0..<4 { _ = try? receiver.tryReceive() }
        _ = try? receiver.receive(timeout: .zero)
        _ = receiver.depth
    }
    if var sender = try? ChannelSender<Element>(named: objectName, mode: .open, timeout: .zero) {
        _ = try? sender.trySend(1)
        _ = try? sender.send(2, timeout: .zero)
    }
}

// MARK: - Corpus

func writeCorpus(to corpus: String) {
    mkdir(corpus, 0o755)
    var count = 0
    /// The file as it is now: taken by `capture` after `make`, or by `make` itself (into
    /// `snapshot`) while the objects it made are still open.
    func readFile() -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { fatalError("\(path): not created") }
        var st = stat()
        fstat(fd, &st)
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        _ = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        close(fd)
        return bytes
    }
    var snapshot: [UInt8]? = nil
    func capture(_ label: String, _ make: () throws -> Void) {
        unlink(path)
        snapshot = nil
        do { try make() } catch { fatalError("\(label): \(error)") }
        let bytes = snapshot ?? readFile()
        unlink(path)
        // Keep the file small: the header, and the payload's first pages.
        let kept = Array(bytes.prefix(HeaderLayout.size + 8192))
        func emit(_ suffix: String, _ control: UInt8, _ content: [UInt8]) {
            let file = "\(corpus)/\(label)-\(suffix)"
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let all = [control] + content
            _ = all.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            count += 1
        }
        emit("valid", 0, kept)
        emit("valid-fixed", 3, kept)
        var truncated = kept
        truncated.removeLast(kept.count / 3)
        emit("truncated", 3, truncated)
        var payload = kept
        for i in stride(from: HeaderLayout.size, to: payload.count, by: 61) { payload[i] = 0xFF }
        emit("payload-ff", 3, payload)
        var sizes = kept
        // The total size, payload size and capacity.
        for i in HeaderLayout.totalSize..<HeaderLayout.creatorPID { sizes[i] = 0xFF }
        emit("sizes-ff", 3, sizes)
        if label.contains("topic") || label.hasPrefix("service") {
            // A topic's (and a service's) geometry is all in its kind parameters: out of
            // bounds, and swapped (publishers for subscribers, history for the policy word;
            // servers for clients, requests per client for the response capacity).
            var parameters = kept
            for i in HeaderLayout.kindParameters..<HeaderLayout.kindLayoutVersion { parameters[i] = 0xFF }
            emit("params-ff", 3, parameters)
            var swapped = kept
            for i in 0..<4 {
                swapped.swapAt(HeaderLayout.kindParameters + i, HeaderLayout.kindParameters + 4 + i)
                swapped.swapAt(HeaderLayout.kindParameters + 8 + i, HeaderLayout.kindParameters + 12 + i)
            }
            emit("params-swapped", 3, swapped)
        }
    }
    capture("segment") { _ = try SharedMemory(named: objectName, mode: .create, size: 8000) }
    capture("array") { _ = try SharedArray<Int>(named: objectName, count: 100, initialValue: 7, mode: .create) }
    capture("mutex") { _ = try ProcessMutex(named: objectName, mode: .create) }
    capture("condition") { _ = try ProcessCondition(named: objectName, mode: .create) }
    capture("semaphore") { _ = try ProcessSemaphore(named: objectName, initialValue: 2, mode: .create) }
    capture("event") { _ = try ProcessEvent(named: objectName, resetMode: .automatic, mode: .create) }
    for topology in [ChannelTopology.singleProducerSingleConsumer, .multiProducerMultiConsumer] {
        capture("channel-int-\(topology)") {
            var sender = try ChannelSender<Int>(named: objectName, capacity: 16, topology: topology, mode: .create)
            for i in 0..<5 { _ = try sender.trySend(i) }
        }
        capture("channel-uint8-\(topology)") {
            var sender = try ChannelSender<UInt8>(named: objectName, capacity: 64, topology: topology, mode: .create)
            for i in 0..<70 { _ = try sender.trySend(UInt8(i)) }
        }
    }
    capture("bytes") {
        var sender = try ByteChannelSender(named: objectName, bufferSize: 1024, maximumMessageSize: 200, mode: .create)
        for n in [0, 1, 7, 8, 100, 200, 150, 90] {
            _ = try sender.send([UInt8](repeating: UInt8(n), count: n), timeout: .zero)
        }
    }
    // Topics: one publisher, two subscribers (one of them holding a sample), history, both
    // policies; a second publisher slot with a predecessor's state left behind.
    for overflow in [TopicConfiguration.OverflowPolicy.block, .dropOldest] {
        capture("topic-int-\(overflow)") {
            let configuration = TopicConfiguration(
                capacity: 4, maximumSubscribers: 2, maximumPublishers: 2, history: 2, overflow: overflow)
            var publisher = try TopicPublisher<Int>(named: objectName, configuration: configuration, mode: .create)
            var subscriber = try TopicSubscriber<Int>(named: objectName)
            var holder = try TopicSubscriber<Int>(named: objectName)
            for i in 0..<3 { try publisher.publish(i) }
            _ = try subscriber.tryReceive()
            let sample = try holder.tryReceiveSample()
            var second = try TopicPublisher<Int>(named: objectName)
            try second.publish(100)
            second.close()
            _ = sample
            subscriber.close()
            holder.close()
            publisher.close()
        }
    }
    capture("topic-uint8") {
        var publisher = try TopicPublisher<UInt8>(
            named: objectName, configuration: TopicConfiguration(capacity: 8, maximumSubscribers: 1), mode: .create)
        let subscriber = try TopicSubscriber<UInt8>(named: objectName)
        for i in 0..<5 { try publisher.publish(UInt8(i)) }
        subscriber.close()
        publisher.close()
    }
    capture("bytetopic") {
        var publisher = try ByteTopicPublisher(
            named: objectName, maximumMessageSize: 100, configuration: byteTopicSeed, mode: .create)
        let subscriber = try ByteTopicSubscriber(
            named: objectName, maximumMessageSize: 100, configuration: byteTopicSeed)
        for n in [0, 1, 7, 100] { try publisher.publish([UInt8](repeating: UInt8(n & 0xFF), count: n)) }
        subscriber.close()
        publisher.close()
    }
    capture("blackboard") {
        var writer = try BlackboardWriter(
            named: objectName, configuration: BlackboardConfiguration(keyCapacity: 4), mode: .create)
        try writer.addKey("a", as: Int.self, initialValue: 1)
        try writer.addKey("b", as: UInt8.self)
        try writer.write(2, forKey: "a")
        writer.close()
    }
    // A service caught mid-flight (the file is read while every endpoint is open): two clients
    // and two servers; a request answered, a stream with one response read and one waiting
    // (its ring full), a request taken by the second server and held, one submitted and not
    // taken, one without reply.
    capture("service") {
        let configuration = ServiceConfiguration(
            maximumClients: 2, maximumServers: 2, requestsPerClient: 3, responseCapacity: 2)
        var server = try ServiceServer<Int, Int>(named: objectName, configuration: configuration, mode: .create)
        var client = try ServiceClient<Int, Int>(named: objectName)
        var other = try ServiceClient<Int, Int>(named: objectName)
        var one = try client.submit(1)
        var stream = try client.submit(2)
        if let request = try server.tryReceive() { try request.respond(10) }
        _ = try one.next(timeout: .zero)
        guard var streaming = try server.tryReceive() else { fatalError("service: no second request") }
        try streaming.yield(20)
        try streaming.yield(21)
        _ = try stream.next(timeout: .zero)
        try streaming.yield(22)
        let held = try other.submit(3)
        var second = try ServiceServer<Int, Int>(named: objectName)
        let taken = try second.tryReceive()
        try other.send(4)
        let waiting = try client.submit(5)
        snapshot = readFile()
        _ = consume waiting
        _ = consume taken
        _ = consume held
        _ = consume streaming
        _ = consume stream
        _ = consume one
        second.close()
        other.close()
        client.close()
        server.close()
    }
    print("wrote \(count) corpus files to \(corpus)")
}

// MARK: - Entry point

// SwiftPM links an executable target with `main` defined as `FuzzSegment_main`, which would
// hide libFuzzer's own `main`; this one hands control to the libFuzzer driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
) -> Int32

@_cdecl("FuzzSegment_main")
public func fuzzSegmentMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in testOneInput(data, size) }
}
