/// The validated name of a shared-memory object, and the file that backs it.
///
/// Users name objects freely within a portable alphabet (`"jobs"`, `"camera.frames"`); the file
/// in the shared-memory directory adds the fixed ``prefix`` so that `shm ls` finds exactly the
/// objects Interprocess made and nothing a user names can collide with another program's
/// segments, or escape the directory.
public struct SegmentName: Sendable, Hashable, CustomStringConvertible {
    /// The prefix of every file Interprocess creates in the shared-memory directory.
    public static let prefix = "interprocess."

    /// The longest accepted name, in bytes. With the prefix it stays well below `NAME_MAX`
    /// (255) on every Linux file system.
    public static let maximumLength = 200

    /// The name as the user gave it.
    public let rawValue: String

    /// Validates `name`.
    ///
    /// A name is 1 to ``maximumLength`` characters from `A–Z a–z 0–9 . _ -`, does not start with
    /// `.` or `-`, and does not contain `..`. Slashes, NUL, spaces and every non-ASCII character
    /// are rejected: they are either not portable across `shm_open` implementations or could
    /// name a path outside the shared-memory directory.
    ///
    /// - Throws: ``SharedMemoryError/invalidName(_:reason:)``.
    public init(_ name: String) throws(SharedMemoryError) {
        if let reason = SegmentName.problem(with: name) {
            throw .invalidName(name, reason: reason)
        }
        self.rawValue = name
    }

    /// Recovers a name from a file name in the shared-memory directory, or `nil` if the file is
    /// not one of ours.
    public init?(fileName: String) {
        guard fileName.hasPrefix(SegmentName.prefix) else { return nil }
        let name = String(fileName.dropFirst(SegmentName.prefix.count))
        guard SegmentName.problem(with: name) == nil else { return nil }
        self.rawValue = name
    }

    /// The file name in the shared-memory directory.
    public var fileName: String { SegmentName.prefix + rawValue }

    /// The path of the backing file in `directory`.
    func path(in directory: String) -> String { directory + "/" + fileName }

    public var description: String { rawValue }

    /// Why `name` is not acceptable, or `nil` if it is.
    static func problem(with name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "a name must not be empty" }
        if bytes.count > maximumLength {
            return "a name is at most \(maximumLength) bytes long (this one has \(bytes.count))"
        }
        if bytes.contains(0) { return "a name must not contain NUL" }
        if bytes.contains(UInt8(ascii: "/")) { return "a name must not contain '/'" }
        if bytes[0] == UInt8(ascii: ".") || bytes[0] == UInt8(ascii: "-") {
            return "a name must not start with '.' or '-'"
        }
        if name.contains("..") { return "a name must not contain '..'" }
        for b in bytes {
            let ok =
                (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
                || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            if !ok {
                return "a name may contain only letters, digits, '.', '_' and '-' (found \(describe(b)))"
            }
        }
        return nil
    }

    private static func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}
