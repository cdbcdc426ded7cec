import ArgumentParser
import Interprocess

@main
struct Shm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shm",
        abstract: "Run, inspect and clean Interprocess shared-memory objects.",
        subcommands: [Demo.self]
    )
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the seed's scenarios with Interprocess.",
        subcommands: [ThreadPoolDemo.self]
    )
}
