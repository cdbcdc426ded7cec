import ArgumentParser
import Interprocess

/// `shm inspect NAME`: every header field of one object.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every header field of a shared-memory object.",
        discussion: """
            Reads the object without modifying it or waiting for it. An object whose header \
            cannot be read is shown with the reason, and the exit status is 1.
            """
    )

    @Argument(help: "The object's name (without the file prefix).")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let info: SharedObjectInfo
        do { info = try SharedObjectRegistry.inspect(named: name) } catch { throw Terminal.failure(error.description) }

        if json {
            Terminal.line(try ObjectReport.json(ObjectReport(info)))
        } else {
            var rows: [[String]] = [
                ["name:", info.name],
                ["path:", info.path],
                ["file size:", "\(Format.size(info.fileSize)) (\(info.fileSize) bytes)"],
                ["mode:", "\(Format.mode(Int(info.permissions.rawValue))) (owner uid \(info.ownerUserID))"],
            ]
            switch info.header {
            case .success(let h):
                rows += [
                    ["kind:", h.kind.description],
                    ["layout version:", "\(h.layoutVersion)"],
                    ["total size:", "\(Format.size(h.totalSize)) (\(h.totalSize) bytes)"],
                    ["payload size:", "\(Format.size(h.payloadSize)) (\(h.payloadSize) bytes)"],
                    ["capacity:", "\(h.capacity)"],
                    ["element type:", h.elementType.description],
                    ["creator:", "\(h.creator), \(h.creatorIsAlive ? "alive" : "dead")"],
                    [
                        "created:",
                        "\(Format.localDate(nanoseconds: h.creationTimeNanoseconds)) "
                            + "(\(Format.isoDate(nanoseconds: h.creationTimeNanoseconds)))",
                    ],
                    ["kind parameters:", h.kindParameters.map(String.init).joined(separator: " ")],
                ]
                if let c = info.channel {
                    let senders = info.participants.filter { $0.role == .sender }
                    let receivers = info.participants.filter { $0.role == .receiver }
                    rows += [
                        ["topology:", c.topology.description],
                        ["depth:", "\(c.depth) of \(c.capacity)\(h.kind == .byteChannel ? " bytes" : " messages")"],
                        ["closed:", c.isClosed ? "yes" : "no"],
                        ["senders:", "\(Format.participants(senders)) (\(c.openSenders) open)"],
                        ["receivers:", "\(Format.participants(receivers)) (\(c.openReceivers) open)"],
                    ]
                    if let maximum = c.maximumMessageSize { rows.append(["max message:", Format.size(maximum)]) }
                }
                if info.participants.isEmpty {
                    rows.append(["participants:", "none"])
                }
                for p in info.participants {
                    rows.append([
                        "participant \(p.slot):",
                        "\(p.role) pid \(p.process.pid) \(p.isAlive ? "alive" : "dead"), since "
                            + Format.localDate(nanoseconds: p.registeredAtNanoseconds),
                    ])
                }
            case .failure(let e):
                rows.append(["header:", "error: \(e)"])
            }
            Format.table(rows).forEach(Terminal.line)
        }
        if case .failure(let e) = info.header { throw Terminal.failure(e.description) }
    }
}
