import ArgumentParser
import Foundation
import Interprocess

/// `shm clean`: remove objects no live process uses.
struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove objects whose participants have all died.",
        discussion: """
            An object is stale when every process registered with it has died (crashed or was \
            killed) or its creator died while creating it. Objects that a live process uses are \
            never removed; processes that still map a removed object keep using it. With \
            --include-unused, objects nobody is registered with are removed too.
            """
    )

    @Flag(help: "List what would be removed, and remove nothing.")
    var dryRun = false

    @Flag(help: "Also remove persistent objects that no live process uses.")
    var includeUnused = false

    @Flag(help: "Also remove what is not a usable object of yours: links, FIFOs and other non-regular files, corrupt files, other users' objects (never one a live process holds).")
    var includeDamaged = false

    @Flag(help: "Print JSON.")
    var json = false

    struct Report: Encodable {
        let name: String
        let path: String
        let reason: String
        let removed: Bool
    }

    var scope: CleanupScope {
        var scope: CleanupScope = []
        if includeUnused { scope.insert(.unused) }
        if includeDamaged { scope.insert(.damaged) }
        return scope
    }

    func run() throws {
        let objects: [StaleObject]
        do {
            objects = dryRun
                ? try SharedObjectRegistry.staleObjects(scope: scope)
                : try SharedObjectRegistry.removeStaleObjects(scope: scope)
        } catch {
            throw Terminal.failure(error.description)
        }
        if json {
            Terminal.line(try ObjectReport.json(objects.map {
                Report(name: $0.name, path: $0.path, reason: $0.reason.description, removed: !dryRun)
            }))
            return
        }
        guard !objects.isEmpty else {
            Terminal.line("Nothing to clean in \(SharedMemory.directory).")
            return
        }
        let verb = dryRun ? "would remove" : "removed"
        let rows = objects.map { [verb, $0.name, "(\($0.reason))"] }
        Format.table(rows).forEach(Terminal.line)
    }
}
