import ArgumentParser

/// `shm demo`: the example scenarios, run across real processes or threads.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the example scenarios: producer-consumer, channel, publish-subscribe, request-response, thread pool, blackboard.",
        subcommands: [
            ProducerConsumerDemo.self,
            ChannelDemo.self,
            PubSubDemo.self,
            ServiceDemo.self,
            ThreadPoolDemo.self,
            BlackboardDemo.self
        ],
        defaultSubcommand: ProducerConsumerDemo.self
    )
}
