/// The version `shm --version` prints: the package's release, the one place it is written.
enum ShmVersion {
    static let current = "0.1.0"
}
