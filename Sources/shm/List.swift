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
            the reason.
            """
    )

    @Flag(help: "Print JSON (an object with the keys \"directory\" and \"objects\").")
    var json = false

    struct Listing: Encodable {
        let directory: String
        let objects: [ObjectReport]
    }

    func run() throws {
        let objects: [SharedObjectInfo]
        do { objects = try SharedObjectRegistry.list() } catch { throw Terminal.failure(error.description) }

        if json {
            let listing = Listing(directory: SharedMemory.directory, objects: objects.map(ObjectReport.init))
            Terminal.line(try ObjectReport.json(listing))
            return
        }
        guard !objects.isEmpty else {
            Terminal.line("No Interprocess objects in \(SharedMemory.directory).")
            return
        }
        var rows = [["NAME", "KIND", "SIZE", "CONTENTS", "USERS", "CREATOR", "MODE", "CREATED"]]
        for info in objects {
            let mode = Format.mode(Int(info.permissions.rawValue))
            switch info.header {
            case .success(let h):
                rows.append([
                    info.name, h.kind.description, Format.size(info.fileSize), Format.contents(h),
                    Format.participants(info.participants), Format.creator(h),
                    mode, Format.localDate(nanoseconds: h.creationTimeNanoseconds),
                ])
            case .failure(let e):
                rows.append([info.name, "?", Format.size(info.fileSize), "error: \(e)"])
            }
        }
        Format.table(rows).forEach(Terminal.line)
    }
}
