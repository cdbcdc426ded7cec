// swift-tools-version:6.1
// The StoreLoad idiom benchmark behind `Platform/StoreLoad.swift` (see BENCHMARKS.md,
// "StoreLoad idiom"). Its own package so that it builds in seconds and never reaches users:
//     swift run -c release --package-path Tools/StoreLoadBenchmark
import PackageDescription

let package = Package(
    name: "StoreLoadBenchmark",
    targets: [
        // The inline-assembly candidate (a locked add to the stack), which Swift cannot express.
        .target(name: "CStoreLoad"),
        .executableTarget(name: "StoreLoadBenchmark", dependencies: ["CStoreLoad"])
    ]
)
