// swift-tools-version:6.1
// The fuzz targets of Interprocess: a separate package, so that the libFuzzer build flags
// (`-sanitize=fuzzer,address`) never reach the library's own builds. Build and run with
// `Fuzz/run.sh` (see there).
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which depends on where the repository
// was cloned.
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "InterprocessFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // libFuzzer provides `main`; the target only defines LLVMFuzzerTestOneInput.
        .executableTarget(
            name: "FuzzSegment",
            dependencies: [.product(name: "Interprocess", package: parent)]
        )
    ]
)
