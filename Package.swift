// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Interprocess",
    products: [
        .library(name: "Interprocess", targets: ["Interprocess"]),
        .executable(name: "shm", targets: ["shm"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0")
    ],
    targets: [
        // The library's only C: futex, gettid, memfd, pidfd and layout assertions.
        .target(name: "CInterprocess"),
        // The C limits `shm bench` compares every row with (atomic flags, SPSC ring, futex,
        // robust mutex + condition variable); benchmark-only, not a product. Release builds
        // compile it with -O2.
        .target(name: "CBenchLimits"),
        .target(
            name: "Interprocess",
            dependencies: [
                "CInterprocess",
                .product(name: "SystemPackage", package: "swift-system")
            ],
            swiftSettings: [
                // Syscall failure injection for tests; compiled out of release builds.
                .define("ENABLE_MOCKING", .when(configuration: .debug))
            ]
        ),
        // The benchmark harness `shm bench` runs, and the scenario definitions (names, sizes,
        // counts, message types in `Scenarios/`) every benchmark shares: the Benchmarks package
        // compiles that folder as its `BenchmarkScenarios` target. Not a product.
        .target(
            name: "InterprocessBenchmarkKit",
            dependencies: ["Interprocess", "CBenchLimits"]
        ),
        .executableTarget(
            name: "shm",
            dependencies: [
                "Interprocess",
                "InterprocessBenchmarkKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        // What the test peer and the multi-process tests share: the test messages and the
        // peer's options; not a product.
        .target(
            name: "InterprocessTestSupport",
            dependencies: ["Interprocess"]
        ),
        // Started by the multi-process tests as a real child process; not a product.
        .executableTarget(
            name: "InterprocessTestPeer",
            dependencies: ["Interprocess", "InterprocessTestSupport"]
        ),
        // The fault-injection suite: `swift run -c release InterprocessFaultInjection`; not a product.
        .executableTarget(
            name: "InterprocessFaultInjection",
            dependencies: ["Interprocess"]
        ),
        .testTarget(
            name: "InterprocessTests",
            dependencies: ["Interprocess", "CInterprocess"],
            swiftSettings: [
                // The tests that inject syscall failures, which the library compiles in debug
                // builds only.
                .define("ENABLE_MOCKING", .when(configuration: .debug))
            ]
        ),
        .testTarget(
            name: "MultiProcessTests",
            // The two executables so they are built next to the test bundle, which starts them
            // as child processes (it imports neither).
            dependencies: [
                "Interprocess", "InterprocessTestSupport", "InterprocessTestPeer", "InterprocessFaultInjection"
            ]
        ),
        .testTarget(
            name: "shmTests",
            // `shm` so the executable is built next to the test bundle; `Interprocess` to create
            // the objects the tests then list, inspect and remove through the CLI; the bench
            // harness for its plan.
            dependencies: ["shm", "Interprocess", "InterprocessBenchmarkKit"]
        )
    ]
)
