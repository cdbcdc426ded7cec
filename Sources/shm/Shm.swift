import ArgumentParser
import Interprocess

@main
struct Shm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shm",
        abstract: "Run, inspect and clean Interprocess shared-memory objects.",
        discussion: """
            Exit status: 0 on success, 1 when an object is missing, invalid or an operation \
            failed (one line on standard error), 64 for a usage error.

            JSON: with --json, a command prints one object, {"schemaVersion": \
            \(JSONEnvelope<Never>.currentSchemaVersion), "command": NAME, "result": …}, whose \
            result each command's --json help describes. schemaVersion changes only when a key \
            is removed, renamed or changes meaning; new keys may appear within a version.
            """,
        version: ShmVersion.current,
        subcommands: [Demo.self, List.self, Inspect.self, Remove.self, Clean.self, Bench.self, Hz.self]
    )
}
