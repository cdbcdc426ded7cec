import Foundation
import Glibc
import Interprocess
import Testing

/// Runs `executable arguments…` to completion (at most `timeout`) and returns its exit and
/// stdout. For children that are not plain peers: the peer under `unshare`, or as another user.
func run(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:],
    timeout: TimeInterval = 120
) throws -> (Peer.Exit, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    try process.run()
    // Read while the child runs, so a full pipe cannot block it.
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    if done.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        throw Peer.Failure(description: "\(executable) \(arguments) still running after \(timeout) s")
    }
    let exit: Peer.Exit =
        process.terminationReason == .uncaughtSignal
        ? .signaled(process.terminationStatus) : .exited(process.terminationStatus)
    return (exit, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// Whether this process may mount a tmpfs in a private mount namespace (root, or
/// CAP_SYS_ADMIN, and `unshare` installed) — probed once by doing it.
let privateTmpfsAvailable: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    let directory = NSTemporaryDirectory() + "interprocess-probe-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let result = try? run(
        "/usr/bin/unshare",
        ["--mount", "--propagation", "private", "/bin/sh", "-c", "mount -t tmpfs -o size=64k tmpfs '\(directory)'"],
        timeout: 30)
    return result?.0 == .exited(0)
}()

extension MultiProcessTests {
    /// A full shared-memory file system: creation fails with a typed error, and nothing faults.
    @Suite struct FullSharedMemory {
        /// A peer in a private mount namespace with a 256 KiB tmpfs as its shared-memory
        /// directory creates segments until the file system is full. Every failure must be
        /// `insufficientSpace` (the peer checks), it must then write every byte of every segment
        /// it made without a SIGBUS (pages are reserved at creation), and exit normally.
        @Test(
            .enabled(
                if: privateTmpfsAvailable,
                "skipped: mounting a tmpfs in a private mount namespace needs root or CAP_SYS_ADMIN and unshare(1)"))
        func creationFailsWithTypedErrorAndNoSIGBUS() throws {
            let directory = NSTemporaryDirectory() + "interprocess-full-shm-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // The tmpfs lives only in the child's namespace: nothing to unmount here.
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let peer = try Peer.executableURL().path
            let script = "mount -t tmpfs -o size=256k tmpfs \"$1\" && shift && exec \"$@\""
            let (exit, output, errors) = try run(
                "/usr/bin/unshare",
                [
                    "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", directory, peer, "fill-shm",
                    "fill", "20000"
                ],
                environment: ["INTERPROCESS_SHM_DIRECTORY": directory])
            #expect(exit != .signaled(SIGBUS), "the peer died by SIGBUS")
            #expect(exit == .exited(0), "peer \(exit): \(output) \(errors)")
            let words = output.split(whereSeparator: \.isWhitespace)
            #expect(words.first == "filled", "\(output) \(errors)")
            if words.count == 3, let created = Int(words[1]), let failures = Int(words[2]) {
                #expect(created > 0 && created < 20, "created \(created) segments of 20 000 bytes in 256 KiB")
                #expect(failures == 21, "\(failures) insufficientSpace failures")
            }
            // Nothing was created outside the private tmpfs.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        }
    }

    /// Segment permissions enforced against another user.
    @Suite struct SegmentPermissions {
        /// Runs the peer role `open-segment NAME` as `nobody` and returns its last line.
        private func openAsNobody(_ name: String, acceptingOwner owner: UInt32? = nil) throws -> String {
            let peer = try Peer.executableURL().path
            let (exit, output, errors) = try run(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", peer, "open-segment", name]
                    + (owner.map { ["\($0)"] } ?? []),
                timeout: 60)
            #expect(exit == .exited(0), "peer as nobody \(exit): \(output) \(errors)")
            return output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// A segment made by root is refused by `nobody` as another user's unless `nobody`
        /// accepts that owner; then a default (0600) segment is still denied by its mode, and one
        /// created with read-write permission for others opens.
        @Test(
            .enabled(
                if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "skipped: running a peer as another user needs root and setpriv(1)"))
        func defaultSegmentIsPrivateToItsOwner() throws {
            let scenario = Scenario("perm")
            defer { scenario.removeAll() }
            let privateSegment = try SharedMemory(named: scenario.name, mode: .create, size: 4096)
            #expect(privateSegment.fileDescriptor.rawValue >= 0)
            #expect(try openAsNobody(scenario.name) == "foreignOwner")
            #expect(try openAsNobody(scenario.name, acceptingOwner: 0) == "permissionDenied")

            let shared = try SharedMemory(
                named: scenario.data, mode: .create, size: 4096,
                permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
            #expect(try openAsNobody(scenario.data) == "foreignOwner")
            #expect(shared.bytes[0] == 0, "refused before anything was written")
            #expect(try openAsNobody(scenario.data, acceptingOwner: 0) == "opened")
            #expect(shared.bytes[0] == 1, "the other user's write is visible")
        }
    }
}
