// swift-tools-version:6.1
// A client outside the package: builds the README's example and the articles' placement example
// against the library's public API only (inside the package, `package` symbols would compile
// too). `.ci/run` copies the README's first Swift block into Sources/PublicAPI/main.swift first.
import PackageDescription

let package = Package(
    name: "PublicAPI",
    dependencies: [.package(name: "Interprocess", path: "../..")],
    targets: [
        .executableTarget(
            name: "PublicAPI", dependencies: [.product(name: "Interprocess", package: "Interprocess")])
    ]
)
