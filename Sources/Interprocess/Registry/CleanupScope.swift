/// What `shm clean` may remove besides objects removed with their last user.
public struct CleanupScope: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Persistent objects no live process uses.
    public static let unused = CleanupScope(rawValue: 1 << 0)
    /// Entries under the prefix that are not usable objects of this user's: symbolic links,
    /// FIFOs and other non-regular files, corrupt or foreign-format files, and objects owned
    /// by another user. Never one a live process holds.
    public static let damaged = CleanupScope(rawValue: 1 << 1)
}
