import SystemPackage

extension SharedMemory {
    /// Sends this segment's descriptor over the connected Unix-domain socket `socket`
    /// (`SCM_RIGHTS`), for another process to open with ``init(receivingFrom:)``.
    ///
    /// Only a sealed segment is sent (one made by ``anonymous(size:)``): the receiver refuses
    /// any other, since a file that is not sealed against shrinking could be truncated under it.
    /// The message is one byte with the descriptor attached; the socket may be a stream or a
    /// datagram socket, and a stream carries one segment per message.
    ///
    /// ```swift
    /// let segment = try SharedMemory.anonymous(size: 1 << 20)
    /// try segment.send(over: socket)
    /// ```
    /// - Parameter socket: a connected `AF_UNIX` socket (one end of a `socketpair`, say).
    /// - Throws: ``SharedMemoryError/notSealed(name:)`` for a segment that is not sealed,
    ///   ``SharedMemoryError/unexpected(_:operation:)`` if `sendmsg` fails (`EPIPE` when the
    ///   other end is closed: no `SIGPIPE` is raised). `EINTR` is retried.
    public func send(over socket: FileDescriptor) throws(SharedMemoryError) {
        let label = name?.rawValue ?? "<anonymous>"
        let seals: FileSystem.Seals
        do { seals = try FileSystem.seals(descriptor) } catch {
            throw .unexpected(error, operation: "fcntl(F_GET_SEALS)")
        }
        guard seals.contains(.shrink) else { throw .notSealed(name: label) }
        do { try FileSystem.sendDescriptor(descriptor, over: socket.rawValue) } catch {
            throw .unexpected(error, operation: "sendmsg(SCM_RIGHTS)")
        }
    }

    /// Opens a segment whose descriptor another process sent over the Unix-domain socket
    /// `socket` with ``send(over:)``.
    ///
    /// Reads one message. It must carry exactly one descriptor, of a file sealed against
    /// shrinking that holds a valid segment; anything else is refused, and every descriptor the
    /// message carried is closed. The received descriptor itself is closed once the segment is
    /// open (the segment holds its own, see ``init(adopting:allowingUnsealed:)``).
    ///
    /// - Parameter socket: a connected `AF_UNIX` socket. Blocks until a message arrives
    ///   (`EINTR` is retried).
    /// - Throws: ``SharedMemoryError/invalidDescriptorMessage(detail:)`` for a message without
    ///   exactly one descriptor (or an end of stream), ``SharedMemoryError/notSealed(name:)``
    ///   for an unsealed file, another ``SharedMemoryError`` for a file that is not a valid
    ///   segment, ``SharedMemoryError/unexpected(_:operation:)`` if `recvmsg` fails.
    public convenience init(receivingFrom socket: FileDescriptor) throws(SharedMemoryError) {
        let message: FileSystem.ReceivedDescriptors
        do { message = try FileSystem.receiveDescriptors(from: socket.rawValue, capacity: 1) } catch {
            throw .unexpected(error, operation: "recvmsg(SCM_RIGHTS)")
        }
        let problem: String? =
            if message.truncated {
                "the ancillary data was cut short (\(message.count) descriptors kept)"
            } else if message.count != 1 {
                message.bytes == 0 && message.count == 0
                    ? "the other end closed the socket" : "\(message.count) descriptors"
            } else {
                nil
            }
        if let problem {
            for fd in message.descriptors { FileSystem.close(fd) }
            throw .invalidDescriptorMessage(detail: problem)
        }
        let received = message.descriptors[0]
        defer { FileSystem.close(received) }
        try self.init(adopting: FileDescriptor(rawValue: received))
    }
}
