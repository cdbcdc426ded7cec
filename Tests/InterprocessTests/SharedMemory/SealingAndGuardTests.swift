import CInterprocess
import Glibc
import SystemPackage
import Testing

@_spi(Layout) @testable import Interprocess

/// Sealed anonymous segments, descriptor passing, sparse files and the SIGBUS guard, in this
/// process (the multi-process versions are in MultiProcessTests/TruncationTests.swift).
///
/// Every attack here is performed for real: a truncation through a second descriptor, a file
/// with holes, a message with the wrong descriptors. A guard that failed would kill the test
/// process itself, which fails the run.
@Suite struct SealingAndGuardTests {
    /// A second open file description of `fd`, as another holder of the descriptor would have.
    private func reopen(_ fd: Int32) throws -> Int32 {
        let second = open("/proc/self/fd/\(fd)", O_RDWR | O_CLOEXEC)
        try #require(second >= 0, "reopen: errno \(errno)")
        return second
    }

    /// `ftruncate` and the errno it failed with (0 if it succeeded).
    private func truncateErrno(_ fd: Int32, to length: Int) -> Int32 {
        ftruncate(fd, off_t(length)) == 0 ? 0 : errno
    }

    // MARK: - Sealing

    /// A second holder of an anonymous segment's memfd cannot shrink or grow it (EPERM), nor
    /// remove the seals; it can still write, which the creator sees.
    @Test func anonymousSegmentIsSealedAgainstResizing() throws {
        let segment = try SharedMemory.anonymous(size: 8192)
        let seals = cipc_get_seals(segment.fileDescriptor.rawValue)
        #expect(seals == CIPC_SEAL_SHRINK | CIPC_SEAL_GROW | CIPC_SEAL_SEAL, "seals \(seals)")
        let other = try reopen(segment.fileDescriptor.rawValue)
        defer { close(other) }
        #expect(truncateErrno(other, to: 0) == EPERM, "shrinking is refused")
        #expect(truncateErrno(other, to: HeaderLayout.size) == EPERM, "shrinking to the header is refused")
        #expect(truncateErrno(other, to: 1 << 20) == EPERM, "growing is refused")
        #expect(cipc_add_seals(other, 0x0008) == -EPERM, "no seal can be added (F_SEAL_WRITE)")
        var byte: UInt8 = 0x5A
        #expect(pwrite(other, &byte, 1, off_t(SegmentHeader.size + 100)) == 1)
        #expect(segment.bytes[100] == 0x5A, "writes through the other descriptor are shared")
        #expect(segment.bytes[8191] == 0, "the whole payload is still mapped and readable")
        #expect(!segment.isDamaged)
    }

    /// A memfd holding a valid segment but not sealed against shrinking is refused by
    /// `init(adopting:)` — also with every seal but F_SEAL_SHRINK — and adopted when the
    /// caller opts out.
    @Test func adoptingAnUnsealedMemfdIsRefused() throws {
        let original = try SharedMemory.anonymous(size: 4096)
        original.bytes[0] = 0x77
        for seals: Int32 in [0, CIPC_SEAL_GROW | CIPC_SEAL_SEAL] {
            let copy = cipc_memfd_create("unsealed")
            try #require(copy >= 0)
            defer { close(copy) }
            // The same bytes (a valid header and payload), fully allocated, in a new memfd.
            var buffer = [UInt8](repeating: 0, count: 8192)
            let read = buffer.withUnsafeMutableBytes {
                pread(original.fileDescriptor.rawValue, $0.baseAddress, 8192, 0)
            }
            try #require(read == 8192)
            #expect(buffer.withUnsafeBytes { pwrite(copy, $0.baseAddress, 8192, 0) } == 8192)
            if seals != 0 { try #require(cipc_add_seals(copy, seals) == 0) }
            let error = sharedMemoryError { _ = try SharedMemory(adopting: FileDescriptor(rawValue: copy)) }
            #expect(error == .notSealed(name: "<fd \(copy)>"), "seals \(seals): \(String(describing: error))")
            let adopted = try SharedMemory(adopting: FileDescriptor(rawValue: copy), allowingUnsealed: true)
            #expect(adopted.bytes[0] == 0x77)
        }
    }

    /// The library's named objects are not sealed (any process with write permission can
    /// truncate their file); adopting one's descriptor needs the opt-out.
    @Test func adoptingANamedSegmentNeedsTheOptOut() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        segment.bytes[1] = 9
        #expect(
            sharedMemoryError { _ = try SharedMemory(adopting: segment.fileDescriptor) }
                == .notSealed(name: "<fd \(segment.fileDescriptor.rawValue)>"))
        let adopted = try SharedMemory(adopting: segment.fileDescriptor, allowingUnsealed: true)
        #expect(adopted.bytes[1] == 9)
    }

    // MARK: - Passing a descriptor over a socket

    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    /// Sends one byte with `descriptors` attached in one SCM_RIGHTS message, as a hostile or
    /// buggy sender would (the library only ever sends one).
    private func sendRaw(_ socket: Int32, descriptors: [Int32]) throws {
        var byte: UInt8 = 0
        let dataLength = descriptors.count * MemoryLayout<Int32>.size
        // struct cmsghdr { size_t len; int level; int type; } then the data, 8-aligned.
        let headerLength = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: headerLength + (dataLength + 7) / 8 * 8)
        control.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: headerLength + dataLength, toByteOffset: 0, as: Int.self)
            raw.storeBytes(of: SOL_SOCKET, toByteOffset: 8, as: Int32.self)
            raw.storeBytes(of: Int32(SCM_RIGHTS), toByteOffset: 12, as: Int32.self)
            for (i, fd) in descriptors.enumerated() { raw.storeBytes(of: fd, toByteOffset: 16 + 4 * i, as: Int32.self) }
        }
        let sent = withUnsafeMutablePointer(to: &byte) { bytePointer in
            control.withUnsafeMutableBytes { controlPointer in
                var iov = iovec(iov_base: bytePointer, iov_len: 1)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    if !descriptors.isEmpty {
                        message.msg_control = controlPointer.baseAddress
                        message.msg_controllen = controlPointer.count
                    }
                    return sendmsg(socket, &message, 0)
                }
            }
        }
        try #require(sent == 1, "sendmsg: errno \(errno)")
    }

    /// A sealed segment sent over a socketpair is received as the same memory.
    @Test func sealedSegmentTravelsOverASocket() throws {
        let (a, b) = try socketPair()
        defer {
            close(a)
            close(b)
        }
        let segment = try SharedMemory.anonymous(size: 4096)
        segment.bytes[7] = 0x42
        try segment.send(over: FileDescriptor(rawValue: a))
        let received = try SharedMemory(receivingFrom: FileDescriptor(rawValue: b))
        #expect(received.bytes[7] == 0x42)
        received.bytes[8] = 0x43
        #expect(segment.bytes[8] == 0x43)
        #expect(cipc_get_seals(received.fileDescriptor.rawValue) & CIPC_SEAL_SHRINK != 0)
        #expect(truncateErrno(received.fileDescriptor.rawValue, to: 0) == EPERM)
    }

    /// The receiver refuses every message that is not exactly one sealed segment's descriptor:
    /// no descriptor, two, more than fit (MSG_CTRUNC), an unsealed memfd, the end of the stream.
    @Test func receiverRefusesAnythingButOneSealedDescriptor() throws {
        let (a, b) = try socketPair()
        defer { close(b) }
        let receiving = FileDescriptor(rawValue: b)
        func refusal() -> SharedMemoryError? { sharedMemoryError { _ = try SharedMemory(receivingFrom: receiving) } }

        try sendRaw(a, descriptors: [])
        guard case .invalidDescriptorMessage(let none)? = refusal() else {
            Issue.record("no descriptor")
            return
        }
        #expect(none.contains("0 descriptors"), "\(none)")

        let segment = try SharedMemory.anonymous(size: 64)
        let fd = segment.fileDescriptor.rawValue
        try sendRaw(a, descriptors: [fd, fd])
        guard case .invalidDescriptorMessage(let two)? = refusal() else {
            Issue.record("two descriptors")
            return
        }
        #expect(two.contains("2 descriptors"), "\(two)")

        try sendRaw(a, descriptors: [Int32](repeating: fd, count: 40))
        guard case .invalidDescriptorMessage(let many)? = refusal() else {
            Issue.record("40 descriptors")
            return
        }
        #expect(many.contains("cut short"), "\(many)")

        let unsealed = cipc_memfd_create("unsealed")
        try #require(unsealed >= 0)
        try #require(ftruncate(unsealed, 8192) == 0 && posix_fallocate(unsealed, 0, 8192) == 0)
        try sendRaw(a, descriptors: [unsealed])
        close(unsealed)
        guard case .notSealed? = refusal() else {
            Issue.record("unsealed memfd")
            return
        }

        close(a)
        guard case .invalidDescriptorMessage(let end)? = refusal() else {
            Issue.record("end of stream")
            return
        }
        #expect(end.contains("closed"), "\(end)")
    }

    /// A named segment's descriptor is not sent: the receiver would refuse it.
    @Test func namedSegmentIsNotSent() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let (a, b) = try socketPair()
        defer {
            close(a)
            close(b)
        }
        let segment = try SharedMemory(named: name, mode: .create, size: 64)
        #expect(sharedMemoryError { try segment.send(over: FileDescriptor(rawValue: a)) } == .notSealed(name: name))
    }

    // MARK: - Sparse files and populating

    /// Writes a copy of `segment`'s header page into a new file at `path`, then extends it to
    /// `length` bytes without allocating them (a sparse file with a valid header).
    static func writeSparseCopy(of segment: SharedMemory, to path: String, length: Int) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        try #require(fd >= 0, "create \(path): errno \(errno)")
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: SegmentHeader.size)
        let read = header.withUnsafeMutableBytes { pread(segment.fileDescriptor.rawValue, $0.baseAddress, $0.count, 0) }
        try #require(read == SegmentHeader.size)
        try #require(header.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == SegmentHeader.size)
        try #require(ftruncate(fd, off_t(length)) == 0)
    }

    /// A file with a valid header whose payload is a hole is refused before it is mapped, and
    /// inspection reports it without mapping it.
    @Test func sparseFileIsRefused() throws {
        let source = uniqueName() + "-src"
        let name = uniqueName()
        defer {
            removeQuietly(source)
            removeQuietly(name)
        }
        let payload = 1 << 24
        let original = try SharedMemory(named: source, mode: .create, size: payload)
        try Self.writeSparseCopy(of: original, to: backingPath(name), length: SegmentHeader.size + payload)
        let error = sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: nil) }
        guard case let .notFullyAllocated(errorName, allocated, length)? = error else {
            Issue.record("expected notFullyAllocated, got \(String(describing: error))")
            return
        }
        #expect(errorName == name)
        #expect(allocated == SegmentHeader.size, "only the header page is allocated")
        #expect(length == SegmentHeader.size + payload)
        let info = try SharedObjectRegistry.inspect(named: name)
        guard case .failure(.notFullyAllocated) = info.header else {
            Issue.record("inspection: \(info.header)")
            return
        }
        var status = stat()
        #expect(
            stat(backingPath(name), &status) == 0 && Int(status.st_blocks) * 512 == SegmentHeader.size,
            "nothing was allocated")
    }

    /// MADV_POPULATE_WRITE failures at open are typed errors; an older kernel's EINVAL is not.
    @Test func prefaultFailuresAreTypedErrors() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        _ = try SharedMemory(named: name, mode: .create, size: 4096)
        let cases: [(Errno, SharedMemoryError?)] = [
            (.badAddress, .damaged(name: name)),
            (.noMemory, .insufficientSpace(name: name, requestedBytes: 8192)),
            (.invalidArgument, nil),
            (.ioError, .unexpected(.ioError, operation: "madvise(MADV_POPULATE_WRITE)"))
        ]
        for (injected, expected) in cases {
            let error = SyscallMocking.with([.madvise: [injected]]) {
                sharedMemoryError { _ = try SharedMemory(named: name, mode: .open, size: 4096) }
            }
            #expect(error == expected, "madvise failing with \(injected)")
        }
    }

    // MARK: - The SIGBUS guard, in this process

    /// A named segment truncated to 0 under its mapping: touching it (read, write, a futex
    /// wait and wake on a lost word) does not kill the process, and it reports itself damaged.
    /// A file shorter than the mapping is damage even before any page is touched.
    @Test func truncatedSegmentIsAbsorbedAndReportedDamaged() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let segment = try SharedMemory(named: name, mode: .create, size: 1 << 16)
        segment.bytes.storeBytes(of: 7, toByteOffset: 64, as: UInt32.self)
        #expect(!segment.isDamaged)
        let other = open(backingPath(name), O_RDWR | O_CLOEXEC)
        try #require(other >= 0)
        defer { close(other) }
        try #require(ftruncate(other, 0) == 0)

        // The kernel cannot read the word (EFAULT): a spurious wake-up, not a trap.
        let word = (segment.bytes.baseAddress! + 64).assumingMemoryBound(to: UInt32.self)
        #expect(Futex.wait(word, expecting: 7, deadline: .after(.seconds(5))) == .woken)
        #expect(Futex.wake(word) == 0)
        #expect(!BusErrorGuard.isPoisoned(segment.region.base), "nothing was touched yet")

        // A touch faults; the guard maps zero pages and the access completes there.
        #expect(segment.bytes.load(fromByteOffset: 64, as: UInt32.self) == 0)
        #expect(BusErrorGuard.isPoisoned(segment.region.base), "the handler absorbed the fault")
        #expect(segment.isDamaged)
        segment.bytes[(1 << 16) - 1] = 0xAB
        #expect(segment.bytes[(1 << 16) - 1] == 0xAB)
        // The futex word now lives on an ordinary zero page: the wait sleeps until its deadline.
        #expect(Futex.wait(word, expecting: 0, deadline: .after(.milliseconds(20))) == .timedOut)

        // Damage is sticky: growing the file back does not make the segment intact.
        try #require(ftruncate(other, off_t(SegmentHeader.size + (1 << 16))) == 0)
        #expect(segment.isDamaged)
        #expect(throws: SharedMemoryError.damaged(name: name)) { try segment.checkIntact() }
    }

    /// Truncating to half: the intact first half stays shared, the lost rest reads as zeros
    /// in this process only.
    @Test func partialTruncationKeepsTheIntactPagesShared() throws {
        let name = uniqueName()
        defer { removeQuietly(name) }
        let size = 8 * FileSystem.pageSize
        let segment = try SharedMemory(named: name, mode: .create, size: size)
        let observer = try SharedMemory(named: name, mode: .open, size: size)
        let other = open(backingPath(name), O_RDWR | O_CLOEXEC)
        try #require(other >= 0)
        defer { close(other) }
        let kept = SegmentHeader.size + size / 2
        try #require(ftruncate(other, off_t(kept)) == 0)
        segment.bytes[size - 1] = 1  // lost: absorbed
        segment.bytes[0] = 2  // intact: still shared
        #expect(observer.bytes[0] == 2)
        #expect(observer.bytes[size - 1] == 0, "the other mapping's lost page is its own zero page")
        #expect(segment.bytes[size - 1] == 1)
        #expect(segment.isDamaged && observer.isDamaged)
    }
}
