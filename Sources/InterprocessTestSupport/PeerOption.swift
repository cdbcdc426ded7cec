/// The options the test peer takes before its role: `InterprocessTestPeer [OPTION…] ROLE NAME
/// [ARGS…]`. The peer parses them with these prefixes; the tests build them with the functions.
package enum PeerOption {
    /// `--shm-directory=DIR`: DIR is the peer's shared-memory directory
    /// (`INTERPROCESS_SHM_DIRECTORY`), so directory-wide operations (list, clean) see only one
    /// test's objects.
    package static let shmDirectoryPrefix = "--shm-directory="
    /// `--as-user=UID`: the peer becomes user and group UID (no supplementary groups) before its
    /// role; needs root.
    package static let asUserPrefix = "--as-user="
    /// `--trust=UID`: the `open-once` and `hold` roles also accept objects owned by UID.
    package static let trustPrefix = "--trust="

    /// `--shm-directory=path`.
    package static func shmDirectory(_ path: String) -> String { shmDirectoryPrefix + path }
    /// `--as-user=id`.
    package static func asUser(_ id: UInt32) -> String { asUserPrefix + String(id) }
    /// `--trust=id`.
    package static func trust(_ id: UInt32) -> String { trustPrefix + String(id) }
}
