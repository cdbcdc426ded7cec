/// A FIFO of jobs for the overflow (guarded by the core's mutex).
struct JobDeque: ~Copyable {
    private var items: [PoolJob?] = []
    private var head = 0

    mutating func append(_ job: PoolJob) { items.append(job) }

    mutating func popFirst(into buffer: UnsafeMutablePointer<PoolJob>, limit: Int) -> Int {
        let n = min(limit, items.count - head)
        for k in 0..<n {
            (buffer + k).initialize(to: items[head + k].take()!)
        }
        head += n
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return n
    }
}
