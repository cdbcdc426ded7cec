extension BlackboardReader {
    /// Waits like ``waitForChange(of:since:timeout:)`` without blocking a cooperative thread:
    /// the sleep runs on an offload thread.
    ///
    /// - Returns: the new version, or `nil` if `timeout` passes first.
    /// - Throws: ``BlackboardError/cancelled`` when the task is cancelled while it waits, and the
    ///   errors of ``waitForChange(of:since:timeout:)``.
    public func waitForChange<Value>(of key: BlackboardKey<Value>, since version: UInt64, timeout: Duration? = nil)
        async throws(BlackboardError) -> UInt64?
    {
        guard key.token == storage.token else { throw .foreignKey(key.name) }
        if Task.isCancelled { throw .cancelled }
        let now = storage.currentVersion(key.slot)
        if now != version { return now }
        let storage = self.storage
        let slot = key.slot
        let deadline = Deadline(timeout: timeout)
        let cancelled = ChannelControl.CancellationFlag()
        let outcome: Result<UInt64?, BlackboardError> = await withTaskCancellationHandler {
            await BlockingOffload.run {
                do throws(BlackboardError) {
                    return .success(
                        try storage.waitForChange(slot: slot, since: version, deadline: deadline) { cancelled.isSet })
                } catch {
                    return .failure(error)
                }
            }
        } onCancel: {
            cancelled.set()
            storage.interruptWaits(slot: slot)
        }
        if cancelled.isSet { throw .cancelled }
        return try outcome.get()
    }
}
