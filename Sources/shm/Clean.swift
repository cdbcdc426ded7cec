import ArgumentParser
import Foundation
import Interprocess

/// `shm clean`: remove objects no live process uses.
struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove objects no live process uses.",
        discussion: """
            Removes the objects created to be removed with their last user whose users are all \
            gone (killed), objects whose creator died while creating them, and abandoned \
            temporary files. Whether a process uses an object is decided by the kernel's locks, \
            never by a header field: an object any live process holds is never removed, even one \
            between opening and registering. Persistent objects are kept unless \
            --include-unused is given; entries that are not usable objects of yours only with \
            --include-damaged. Processes that still map a removed object keep using it.
            """
    )

    @Flag(help: "List what would be removed, and remove nothing.")
    var dryRun = false

    @Flag(help: "Also remove persistent objects that no live process uses.")
    var includeUnused = false

    @Flag(
        help:
            "Also remove what is not a usable object of yours: links, FIFOs and other non-regular files, corrupt files, other users' objects (never one a live process holds)."
    )
    var includeDamaged = false

    @Flag(
        help:
            "Print JSON (the result: an array of objects with the keys \"name\", \"path\", \"reason\", \"removed\" and \"outcome\")."
    )
    var json = false

    struct Report: Encodable {
        let name: String
        let path: String
        let reason: String
        let removed: Bool
        /// What happened: "removed", "would remove", or why it was kept.
        let outcome: String
    }

    var scope: CleanupScope {
        var scope: CleanupScope = []
        if includeUnused { scope.insert(.unused) }
        if includeDamaged { scope.insert(.damaged) }
        return scope
    }

    func run() throws {
        let candidates: [StaleObject]
        do { candidates = try SharedObjectRegistry.staleObjects(scope: scope) } catch {
            throw Terminal.failure(error.description)
        }
        let results: [(StaleObject, SharedObjectRegistry.RemovalOutcome?)] = candidates.map {
            ($0, dryRun ? nil : SharedObjectRegistry.remove($0))
        }
        if json {
            let reports = results.map { object, outcome in
                Report(
                    name: object.name, path: object.path, reason: object.reason.description,
                    removed: outcome == .removed, outcome: outcome?.description ?? "would remove")
            }
            try JSONEnvelope.print(reports, for: Self.self)
            return
        }
        guard !results.isEmpty else {
            Terminal.line("Nothing to clean in \(SharedMemory.directory).")
            return
        }
        let rows = results.map { object, outcome in
            switch outcome {
            case nil: ["would remove", object.name, "(\(object.reason))"]
            case .removed?: ["removed", object.name, "(\(object.reason))"]
            case let other?: ["kept", object.name, "(\(other))"]
            }
        }
        Format.table(rows).forEach(Terminal.line)
    }
}
