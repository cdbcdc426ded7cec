// swift-tools-version:6.1
// Benchmarks of Interprocess, kept in their own package so that their dependencies
// (package-benchmark, SwiftNIO as a peer) never reach the library's users.
import PackageDescription

let package = Package(
    name: "InterprocessBenchmarks",
    dependencies: [
        .package(name: "Interprocess", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // W1–W5 from BENCHMARKS.md, for our pool and the same-run peers.
        .target(
            name: "PoolWorkloads",
            dependencies: [
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `swift run -c release ThreadPoolComparison`: prints the comparison table.
        .executableTarget(
            name: "ThreadPoolComparison",
            dependencies: ["PoolWorkloads"]
        ),
        // `swift package benchmark`: regression tracking with ordo-one/benchmark.
        .executableTarget(
            name: "ThreadPoolBenchmarks",
            dependencies: [
                "PoolWorkloads",
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ThreadPoolBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // In-process regression tracker for the channels; cross-process figures come from
        // `shm bench` (see BENCHMARKS.md).
        .executableTarget(
            name: "IPCBenchmarks",
            dependencies: [
                .product(name: "Interprocess", package: "Interprocess"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "IPCBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
