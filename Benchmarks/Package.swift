// swift-tools-version:6.1
// Benchmarks live in their own package so that ordo-one/benchmark never reaches library users.
// Kept minimal on purpose: other benchmark targets (the thread pool's) may join it.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name (`Interprocess`, or a worktree's name),
// so the product reference is computed from where this manifest lives.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // In-process regression tracker for the channels; cross-process figures come from
        // `shm bench` (see BENCHMARKS.md).
        .executableTarget(
            name: "IPCBenchmarks",
            dependencies: [
                .product(name: "Interprocess", package: root),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "IPCBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
