import ArgumentParser
import Foundation
import Interprocess

/// `shm inspect NAME`: every header field of one object.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show every header field of a shared-memory object.",
        discussion: """
            Reads the object without modifying it or waiting for it. An object whose header \
            cannot be read is shown with the reason, and the exit status is 1.
            """
    )

    @Argument(help: "The object's name (without the file prefix).")
    var name: String

    @Flag(help: "Print JSON (the result: the object, as one entry of `shm ls --json`).")
    var json = false

    func run() throws {
        let info: SharedObjectInfo
        do { info = try SharedObjectRegistry.inspect(named: name) } catch {
            if case .notFound = error, let note = Inspect.unprefixedFileNote(name) { throw Terminal.failure(note) }
            throw Terminal.failure(error.description)
        }

        if json {
            try JSONEnvelope.print(ObjectReport(info), for: Self.self)
        } else {
            var rows: [[String]] = [
                ["name:", info.name],
                ["path:", info.path],
                ["file size:", "\(Format.size(info.fileSize)) (\(info.fileSize) bytes)"],
                ["mode:", "\(Format.mode(Int(info.permissions.rawValue))) (owner uid \(info.ownerUserID))"]
            ]
            switch info.header {
            case .success(let h):
                rows += [
                    ["kind:", h.kind.description],
                    ["layout version:", "\(h.layoutVersion) (header), \(h.kindLayoutVersion) (\(h.kind))"],
                    ["total size:", "\(Format.size(h.totalSize)) (\(h.totalSize) bytes)"],
                    ["payload size:", "\(Format.size(h.payloadSize)) (\(h.payloadSize) bytes)"],
                    ["capacity:", "\(h.capacity)"],
                    ["element type:", h.elementType.description],
                    ["creator:", "\(h.creator), \(h.creatorIsAlive ? "alive" : "dead")"],
                    [
                        "created:",
                        "\(Format.localDate(nanoseconds: h.creationTimeNanoseconds)) "
                            + "(\(Format.isoDate(nanoseconds: h.creationTimeNanoseconds)))"
                    ],
                    ["kind parameters:", h.kindParameters.map(String.init).joined(separator: " ")],
                    ["lifetime:", Format.lifetime(h)],
                    ["in use:", info.isInUse ? "yes (a live process holds a lock on it)" : "no"],
                    ["live registrations:", Inspect.registrations(info)],
                    [
                        "participant table:",
                        "\(info.participants.count) of \(SharedObjectInfo.participantTableSlots) slots"
                            + (info.participantTableIsFull
                                ? " (full: further registrations are counted above, not listed)" : "")
                    ],
                    ["from Python:", Inspect.pythonHint(info)]
                ]
                if let c = info.channel {
                    let senders = info.participants.filter { $0.role == .sender }
                    let receivers = info.participants.filter { $0.role == .receiver }
                    rows += [
                        ["topology:", c.topology.description],
                        ["depth:", "\(c.depth) of \(c.capacity)\(h.kind == .byteChannel ? " bytes" : " messages")"],
                        ["closed:", c.isClosed ? "yes" : "no"],
                        [
                            "senders:",
                            "\(info.liveRegistrations[.sender] ?? 0) live, \(c.openSenders) open (table: \(Format.participants(senders)))"
                        ],
                        [
                            "receivers:",
                            "\(info.liveRegistrations[.receiver] ?? 0) live, \(c.openReceivers) open (table: \(Format.participants(receivers)))"
                        ]
                    ]
                    if let maximum = c.maximumMessageSize { rows.append(["max message:", Format.size(maximum)]) }
                }
                if let t = info.topic { rows += Inspect.topicRows(t) }
                if let service = info.service { rows += Inspect.serviceRows(service) }
                if let b = info.blackboard { rows += Inspect.blackboardRows(b) }
                if info.participants.isEmpty {
                    rows.append(["participants:", "none"])
                }
                for p in info.participants {
                    rows.append([
                        "participant \(p.slot):",
                        "\(p.role) pid \(p.process.pid) \(p.isAlive ? "alive" : "dead"), since "
                            + Format.localDate(nanoseconds: p.registeredAtNanoseconds)
                    ])
                }
            case .failure(let e):
                rows.append(["header:", "error: \(e)"])
            }
            Format.table(rows).forEach(Terminal.line)
        }
        if case .failure(let e) = info.header { throw Terminal.failure(e.description) }
    }

    /// A topic's configuration, then one row per publisher and per subscriber slot.
    static func topicRows(_ t: TopicState) -> [[String]] {
        let c = t.configuration
        var rows: [[String]] = [
            ["capacity per subscriber:", "\(c.capacity) messages"],
            ["max message:", Format.size(t.maximumMessageSize)],
            ["history:", "\(c.history) messages"],
            ["overflow:", c.overflow.description],
            ["held samples, loans:", "at most \(c.maximumHeldSamples), \(c.maximumLoans)"],
            ["publishers:", "\(t.livePublishers) live of \(c.maximumPublishers)"],
            ["subscribers:", "\(t.liveSubscribers) live of \(c.maximumSubscribers)"]
        ]
        for p in t.publishers {
            rows.append([
                "publisher \(p.slot):",
                "\(p.state), \(p.isAlive ? "alive" : "not held"), \(p.nextSequence) published"
            ])
        }
        for s in t.subscribers {
            rows.append([
                "subscriber \(s.slot):",
                "\(s.state == .leaving ? "leaving (holds samples)" : s.state.description), \(s.isAlive ? "alive" : "dead"), lag \(s.lag), "
                    + "missed \(s.missed)"
            ])
        }
        return rows
    }

    /// A service's configuration and requests, then one row per server and per client slot.
    static func serviceRows(_ state: ServiceState) -> [[String]] {
        let c = state.configuration
        var rows: [[String]] = [
            ["requests per client:", "\(c.requestsPerClient), \(c.responseCapacity) responses ahead"],
            ["servers:", "\(state.liveServers) live of \(c.maximumServers)"],
            ["clients:", "\(state.liveClients) live of \(c.maximumClients)"],
            ["requests:", "\(state.waitingRequests) waiting, \(state.requestsInFlight) in flight"]
        ]
        for s in state.servers {
            rows.append([
                "server \(s.slot):", "\(s.state), \(s.isAlive ? "alive" : "not held"), \(s.inFlight) in flight"
            ])
        }
        for client in state.clients {
            rows.append([
                "client \(client.slot):",
                "\(client.state), \(client.isAlive ? "alive" : "dead"), \(client.waiting) waiting, \(client.inFlight) in flight"
            ])
        }
        return rows
    }

    /// A blackboard's configuration and writer, then one row per key.
    static func blackboardRows(_ b: BlackboardState) -> [[String]] {
        var rows: [[String]] = [
            ["keys:", "\(b.keys.count) of \(b.configuration.keyCapacity)"],
            ["value space:", "\(Format.size(b.valueSpaceUsed)) used of \(Format.size(b.configuration.valueSpace))"],
            ["writer:", "\(b.hasWriter ? "alive" : "none") (generation \(b.writerGeneration))"]
        ]
        for key in b.keys {
            rows.append(["key \(key.name):", "\(key.valueType), version \(key.version)"])
        }
        if let problem = b.problem { rows.append(["problem:", problem]) }
        return rows
    }

    /// `2 openers, 1 sender` / `none`.
    static func registrations(_ info: SharedObjectInfo) -> String {
        let parts = info.liveRegistrations.sorted { $0.key.rawValue < $1.key.rawValue }.map { role, count in
            "\(count) \(role)\(count == 1 ? "" : "s")"
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// How to attach from Python without its resource tracker unlinking the object at exit.
    static func pythonHint(_ info: SharedObjectInfo) -> String {
        let file = (info.path as NSString).lastPathComponent
        return "SharedMemory(name=\"\(file)\", track=False) on Python 3.13+; before 3.13 call "
            + "resource_tracker.unregister(shm._name, \"shared_memory\") right after attaching, "
            + "or the object is unlinked when Python exits. The payload starts at byte \(SharedObjectInfo.payloadOffset). "
            + "Python holds no lock, so it does not count as a user."
    }

    /// A note for a name that exists in the directory without the Interprocess prefix.
    static func unprefixedFileNote(_ name: String) -> String? {
        if name.hasPrefix(SegmentName.prefix) {
            let bare = String(name.dropFirst(SegmentName.prefix.count))
            if SharedMemory.exists(named: bare) {
                return "no object named '\(name)'; did you mean `shm inspect \(bare)`?"
            }
        }
        let path = SharedMemory.directory + "/" + name
        guard !name.contains("/"),
            FileManager.default.fileExists(atPath: path)
                || (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
        else { return nil }
        return "'\(name)' exists in \(SharedMemory.directory) but is not an Interprocess object: Interprocess "
            + "names its files '\(SegmentName.prefix)NAME' and `shm inspect` takes NAME without the prefix"
    }
}
