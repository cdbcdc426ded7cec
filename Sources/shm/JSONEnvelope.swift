import ArgumentParser
import Foundation

/// What every `--json` output of `shm` is: one object that names its schema and its command
/// around the command's own result.
///
/// ```json
/// {"command": "clean", "result": [...], "schemaVersion": 1}
/// ```
///
/// A consumer checks `schemaVersion` first: it changes only when a key is removed, renamed or
/// changes meaning (new keys may appear within a version). `command` is the subcommand's
/// name as typed (`ls`, `inspect`, `rm`, `clean`, `bench`, `hz`); `result` is an object, or an
/// array for `clean`, with the keys each command's help describes. `hz` prints one envelope per
/// report, one per line.
struct JSONEnvelope<Result: Encodable>: Encodable {
    /// The version of every command's JSON output.
    static var currentSchemaVersion: Int { 1 }

    let schemaVersion: Int
    let command: String
    let result: Result

    init(command: String, result: Result) {
        self.schemaVersion = Self.currentSchemaVersion
        self.command = command
        self.result = result
    }

    /// The envelope as JSON with sorted keys: pretty-printed, or on one line (`compact`).
    func encoded(compact: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            compact ? [.sortedKeys, .withoutEscapingSlashes] : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Writes the envelope of `result` to standard output, named after `command`.
    ///
    /// - Precondition: `command`'s configuration names it (`commandName`), so the name in the
    ///   output is the one typed, never one derived from a Swift type's name.
    static func print(_ result: Result, for command: any ParsableCommand.Type) throws {
        guard let name = command.configuration.commandName else {
            preconditionFailure("\(command) prints JSON but its configuration has no commandName")
        }
        Terminal.line(try JSONEnvelope(command: name, result: result).encoded())
    }

    /// Writes the envelope of `result` on one line, for commands that report repeatedly
    /// (`hz`): each line is a whole envelope.
    static func printLine(_ result: Result, for command: any ParsableCommand.Type) throws {
        guard let name = command.configuration.commandName else {
            preconditionFailure("\(command) prints JSON but its configuration has no commandName")
        }
        Terminal.line(try JSONEnvelope(command: name, result: result).encoded(compact: true))
    }
}
