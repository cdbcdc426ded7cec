import Interprocess

/// The demo's three objects: `BASE.data`, `BASE.lock`, `BASE.cond`.
struct DemoObjects: Sendable {
    let base: String
    var dataName: String { base + ".data" }
    var lockName: String { base + ".lock" }
    var conditionName: String { base + ".cond" }

    /// Creates the objects (failing if any exists) and returns the handles that keep them:
    /// they are removed with their last user, so a demo killed with SIGKILL leaves nothing that
    /// `shm clean` (or the next opener) does not remove. On failure removes those it created.
    func create(count: Int) throws(SharedMemoryError) -> (SharedArray<Int>, ProcessMutex, ProcessCondition) {
        do {
            return (
                try SharedArray<Int>(
                    named: dataName, count: count, initialValue: -1, mode: .create, lifetime: .removedWithLastUser),
                try ProcessMutex(named: lockName, mode: .create, lifetime: .removedWithLastUser),
                try ProcessCondition(named: conditionName, mode: .create, lifetime: .removedWithLastUser)
            )
        } catch {
            remove()
            throw error
        }
    }

    func open() throws(SharedMemoryError) -> (SharedArray<Int>, ProcessMutex, ProcessCondition) {
        (
            try SharedArray<Int>(named: dataName), try ProcessMutex(named: lockName, mode: .open),
            try ProcessCondition(named: conditionName, mode: .open)
        )
    }

    /// Removes whichever of the objects exist.
    func remove() {
        for name in [dataName, lockName, conditionName] { try? SharedMemory.remove(named: name) }
    }
}
