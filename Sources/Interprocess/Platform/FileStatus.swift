import Glibc

/// What `fstat` reports of a file, in the terms the shared-memory layer uses.
struct FileStatus: Sendable {
    /// The kinds of directory entry.
    enum FileType: Sendable, Equatable {
        case regular, directory, symbolicLink, fifo, socket, characterDevice, blockDevice
        case other(UInt32)

        /// A name for messages ("regular file", "symbolic link", …).
        var description: String {
            switch self {
            case .regular: "regular file"
            case .symbolicLink: "symbolic link"
            case .fifo: "FIFO"
            case .socket: "socket"
            case .characterDevice: "character device"
            case .blockDevice: "block device"
            case .directory: "directory"
            case .other(let bits): "file of type \(String(bits, radix: 8))"
            }
        }
    }

    let type: FileType
    /// The length in bytes.
    let size: Int
    /// The bytes allocated to the file (`st_blocks` counts 512-byte units whatever the file
    /// system's block size); saturates at `Int.max`.
    let allocatedBytes: Int
    /// The permission bits (`st_mode & 0o7777`).
    let permissionBits: UInt32
    let ownerUserID: UInt32
    let device: UInt64
    let inode: UInt64

    var isRegularFile: Bool { type == .regular }

    /// Whether both describe the same inode.
    func isSameFile(as other: FileStatus) -> Bool { device == other.device && inode == other.inode }

    init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = .regular
        case S_IFLNK: type = .symbolicLink
        case S_IFIFO: type = .fifo
        case S_IFSOCK: type = .socket
        case S_IFCHR: type = .characterDevice
        case S_IFBLK: type = .blockDevice
        case S_IFDIR: type = .directory
        default: type = .other(UInt32(st.st_mode & S_IFMT))
        }
        size = Int(st.st_size)
        let (allocated, overflow) = Int(st.st_blocks).multipliedReportingOverflow(by: 512)
        allocatedBytes = overflow ? Int.max : allocated
        permissionBits = UInt32(st.st_mode & 0o7777)
        ownerUserID = st.st_uid
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}
