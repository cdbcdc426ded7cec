// swift-tools-version:6.1
// Benchmarks of Interprocess, kept in their own package so that their dependencies
// (package-benchmark, SwiftNIO as a peer) never reach the library's users.
import PackageDescription

let package = Package(
    name: "InterprocessBenchmarks",
    dependencies: [
        .package(name: "Interprocess", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2")
    ],
    targets: [
        // The scenario definitions every benchmark shares (workload names, sizes, counts, the
        // message types): a link to the main package's `Sources/InterprocessBenchmarkKit/Scenarios`,
        // which `shm bench` compiles as part of InterprocessBenchmarkKit (a target that is not a
        // product, so this package cannot depend on it).
        .target(
            name: "BenchmarkScenarios",
            dependencies: [.product(name: "Interprocess", package: "Interprocess")]
        ),
        // W1–W5 from BENCHMARKS.md, for our pool and the same-run peers.
        .target(
            name: "PoolWorkloads",
            dependencies: [
                "BenchmarkScenarios",
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "NIOPosix", package: "swift-nio")
            ]
        ),
        // W3's limit: the same tasks on plain threads sharing one atomic index, in C.
        .target(name: "CPoolLimits"),
        // `swift run -c release ThreadPoolComparison`: prints the comparison table.
        .executableTarget(
            name: "ThreadPoolComparison",
            dependencies: ["BenchmarkScenarios", "PoolWorkloads", "CPoolLimits"]
        ),
        // `swift package benchmark`: regression tracking with ordo-one/benchmark.
        .executableTarget(
            name: "ThreadPoolBenchmarks",
            dependencies: [
                "BenchmarkScenarios",
                "PoolWorkloads",
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "Benchmark", package: "benchmark")
            ],
            path: "Benchmarks/ThreadPoolBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The C limit rows of `shm bench` (a link to the main package's `Sources/CBenchLimits`,
        // a target that is not a product), for the C ring's instruction count.
        .target(name: "CLimitRows"),
        // Single-thread loops for instruction counts (`instruction-counts.sh`, BENCHMARKS.md).
        .executableTarget(
            name: "InstructionCounts",
            dependencies: ["BenchmarkScenarios", "CLimitRows", .product(name: "Interprocess", package: "Interprocess")]
        ),
        // What the paired benchmarks share (a thread, pinning, the clock, summaries).
        .target(name: "PairedSupport"),
        // Topic, SPSC and MPMC 64 B streams in alternating chunks (BENCHMARKS.md, "Topics").
        .executableTarget(
            name: "PairedStreams",
            dependencies: ["PairedSupport", .product(name: "Interprocess", package: "Interprocess")]
        ),
        // Service, topic and SPSC round trips in alternating chunks (BENCHMARKS.md, "Services").
        .executableTarget(
            name: "PairedRoundTrips",
            dependencies: ["PairedSupport", .product(name: "Interprocess", package: "Interprocess")]
        ),
        // The channel rows of issue 13's targets beside the C limits, in alternating chunks
        // (BENCHMARKS.md, "In pairs: the channel rows beside the C limits").
        .executableTarget(
            name: "PairedLimits",
            dependencies: [
                "BenchmarkScenarios", "CLimitRows", "PairedSupport",
                .product(name: "Interprocess", package: "Interprocess")
            ]
        ),
        // In-process regression tracker for the channels; cross-process figures come from
        // `shm bench` (see BENCHMARKS.md).
        .executableTarget(
            name: "IPCBenchmarks",
            dependencies: [
                "BenchmarkScenarios",
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "Benchmark", package: "benchmark")
            ],
            path: "IPCBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
