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
            """,
        subcommands: [Demo.self, List.self, Inspect.self, Remove.self, Clean.self, Bench.self]
    )
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the seed's scenarios with Interprocess.",
        subcommands: [
            ProducerConsumerDemo.self,
            ChannelDemo.self,
            ThreadPoolDemo.self,
        ],
        defaultSubcommand: ProducerConsumerDemo.self
    )
}
