import Foundation
import Glibc
import Interprocess
import InterprocessTestSupport
import Testing

/// A shared-memory directory of one test's own, for tests whose children list and clean the
/// whole directory.
///
/// `removeStaleObjects` and `list` work on every object of ``SharedMemory/directory``. Run on
/// `/dev/shm`, a cleaning loop would remove the unused objects of every other test running at
/// the same time (the suites of this package run in parallel, and other checkouts run theirs),
/// and their objects would show up in this test's listing. So those calls run in children
/// started with `--shm-directory=` this directory (a tmpfs directory, so `O_TMPFILE` works as
/// in `/dev/shm`), and the parent only plants, reads and compares files in it.
struct PrivateShmDirectory {
    let path: String

    /// Creates `/dev/shm/ipt-LABEL-PID-RANDOM`, writable by everyone and sticky (mode 1777, as
    /// `/dev/shm`), so another user's child can create objects in it too.
    init(_ label: String) throws {
        path = "/dev/shm/ipt-\(label)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        guard mkdir(path, 0o700) == 0, chmod(path, 0o1777) == 0 else {
            throw Peer.Failure(description: "mkdir \(path): errno \(errno)")
        }
    }

    /// Removes the directory and everything in it.
    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The backing file of the object `name`.
    func file(_ name: String) -> String { path + "/" + SegmentName.prefix + name }

    /// A file that no object name maps to (no prefix), for stop signals.
    func plainFile(_ name: String) -> String { path + "/" + name }

    /// Starts `InterprocessTestPeer ROLE ARGUMENTS…` with this directory as its shared-memory
    /// directory, and more peer options first if given (`--as-user=…`).
    func peer(_ role: String, _ arguments: String..., options: [String] = []) throws -> Peer {
        try Peer(PeerOption.shmDirectory(path), arguments: options + [role] + arguments)
    }

    /// Runs `registry NAME OPS…` in a child and returns each op's result ("info" → "true 60 …").
    func registry(_ name: String, _ ops: String...) throws -> [String: String] {
        let peer = try Peer(PeerOption.shmDirectory(path), arguments: ["registry", name] + ops)
        try peer.waitFor("done", timeout: .seconds(30))
        expectExitedNormally(peer)
        return keyedLines(peer.lines)
    }

    /// Creates the empty file `file` (a stop signal for `hold` and `race-clean`).
    func touch(_ file: String) {
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd >= 0 { close(fd) }
    }
}

/// Waits for `peer` to exit normally; records an issue otherwise.
func expectExitedNormally(_ peer: Peer, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    do {
        let exit = try peer.waitForExit(timeout: .seconds(30))
        #expect(
            exit == .exited(0), "\(peer) \(exit); stdout \(peer.lines); stderr \(peer.standardError)",
            sourceLocation: sourceLocation)
    } catch {
        Issue.record(error, sourceLocation: sourceLocation)
    }
}

/// The lines `LABEL REST…` as `[LABEL: REST]` (a later line with a label wins).
func keyedLines(_ lines: [String]) -> [String: String] {
    var result: [String: String] = [:]
    for line in lines {
        let parts = line.split(separator: " ", maxSplits: 1)
        guard let label = parts.first else { continue }
        result[String(label)] = parts.count > 1 ? String(parts[1]) : ""
    }
    return result
}

/// The bytes of `path` (following nothing: a symbolic link is read as the file it names).
func contents(of path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

/// Whether this process runs as root and can start children as another user (`--as-user`).
let canActAsAnotherUser = getuid() == 0

/// The uid the root-only tests act as.
let nobodyUserID: UInt32 = 65534
