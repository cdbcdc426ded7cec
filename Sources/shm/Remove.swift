import ArgumentParser
import Interprocess

/// `shm rm NAME...`: removes objects' names.
struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove shared-memory objects.",
        discussion: """
            Removes each name; processes that have the object open keep using it until they \
            close it. Every name is attempted; the exit status is 1 if any could not be removed, \
            with one line on standard error for each.
            """
    )

    @Argument(help: "The objects' names.")
    var names: [String]

    @Flag(help: "Print JSON (the result: an object with the keys \"removed\" and \"failed\").")
    var json = false

    struct Outcome: Encodable {
        struct Failure: Encodable {
            let name: String
            let error: String
        }
        var removed: [String] = []
        var failed: [Failure] = []
    }

    func validate() throws {
        if names.isEmpty { throw ValidationError("Give at least one name to remove.") }
    }

    func run() throws {
        var outcome = Outcome()
        for name in names {
            do {
                try SharedMemory.remove(named: name)
                outcome.removed.append(name)
            } catch {
                Terminal.error(error.description)
                outcome.failed.append(.init(name: name, error: error.description))
            }
        }
        if json { try JSONEnvelope.print(outcome, for: Self.self) }
        if !outcome.failed.isEmpty { throw ExitCode(1) }
    }
}
