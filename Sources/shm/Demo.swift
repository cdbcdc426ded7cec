import ArgumentParser

/// `shm demo`: the example scenarios, run across real processes or threads.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the example scenarios: producer-consumer, channel, publish-subscribe, thread pool, blackboard.",
        subcommands: [
            ProducerConsumerDemo.self,
            ChannelDemo.self,
            PubSubDemo.self,
            ThreadPoolDemo.self,
            BlackboardDemo.self
        ],
        defaultSubcommand: ProducerConsumerDemo.self
    )
}
