import ArgumentParser
import Interprocess

/// `shm ls`: every Interprocess object in the shared-memory directory.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the Interprocess shared-memory objects.",
        discussion: """
            Lists every object in the shared-memory directory (/dev/shm, or \
            $INTERPROCESS_SHM_DIRECTORY), including objects whose header cannot be read, with \
            the reason: links, FIFOs and other non-regular files under the prefix are shown, \
            never followed or opened. USERS counts live registrations from the kernel's locks \
            (and dead entries of the participant table); for a topic, its live publishers and \
            subscribers (`1 pub, 2 sub`). Objects this user may not read are \
            counted at the end.
            """
    )

    @Flag(help: "Print JSON (the result: an object with the keys \"directory\", \"objects\" and \"unreadable\").")
    var json = false

    struct Listing: Encodable {
        let directory: String
        let objects: [ObjectReport]
        /// How many objects this user could not read (permission denied).
        let unreadable: Int
    }

    func run() throws {
        let objects: [SharedObjectInfo]
        do { objects = try SharedObjectRegistry.list() } catch { throw Terminal.failure(error.description) }

        let unreadable = objects.filter {
            if case .failure(.permissionDenied) = $0.header { return true } else { return false }
        }.count
        if json {
            let listing = Listing(
                directory: SharedMemory.directory, objects: objects.map(ObjectReport.init), unreadable: unreadable)
            try JSONEnvelope.print(listing, for: Self.self)
            return
        }
        guard !objects.isEmpty else {
            Terminal.line("No Interprocess objects in \(SharedMemory.directory).")
            return
        }
        var rows = [["NAME", "KIND", "SIZE", "CONTENTS", "USERS", "LIFETIME", "CREATOR", "MODE", "CREATED"]]
        for info in objects {
            let mode = Format.mode(Int(info.permissions.rawValue))
            switch info.header {
            case .success(let h):
                rows.append([
                    info.name, h.kind.description, Format.size(info.fileSize),
                    Format.contents(h, topic: info.topic, blackboard: info.blackboard),
                    Format.users(info), Format.lifetime(h), Format.creator(h),
                    mode, Format.localDate(nanoseconds: h.creationTimeNanoseconds)
                ])
            case .failure(let e):
                rows.append([info.name, "?", Format.size(info.fileSize), "error: \(e)"])
            }
        }
        Format.table(rows).forEach(Terminal.line)
        if unreadable > 0 {
            Terminal.line(
                "\(unreadable) object\(unreadable == 1 ? "" : "s") could not be read by this user (permission denied).")
        }
    }
}
