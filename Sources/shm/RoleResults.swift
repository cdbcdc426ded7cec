import Foundation

/// The roles' outcomes in `--threads` mode.
final class RoleResults: @unchecked Sendable {
    // @unchecked Sendable: `results` is guarded by `lock`.
    private let lock = NSLock()
    private var results: [DemoRole: Result<Void, any Error>] = [:]

    func set(_ role: DemoRole, _ result: Result<Void, any Error>) { lock.withLock { results[role] = result } }
    func get(_ role: DemoRole) -> Result<Void, any Error>? { lock.withLock { results[role] } }
}
