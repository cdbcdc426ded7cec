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

    @Flag(help: "Also remove objects that no process is registered with.")
    var includeUnused = false

    @Flag(help: "Print JSON.")
    var json = false

    struct Report: Encodable {
        let name: String
        let path: String
        let reason: String
        let removed: Bool
    }

    func run() throws {
        let objects: [StaleObject]
        do {
            objects = dryRun
                ? try SharedObjectRegistry.staleObjects(includeUnused: includeUnused)
                : try SharedObjectRegistry.removeStaleObjects(includeUnused: includeUnused)
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
