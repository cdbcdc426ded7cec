import Foundation

/// A progress line on standard error, overwritten in place.
struct BenchProgress {
    let total: Int
    let enabled: Bool

    func show(_ index: Int, _ text: String) {
        guard enabled else { return }
        let line = "bench [\(index + 1)/\(total)] \(text)…"
        FileHandle.standardError.write(Data(("\r" + line.padding(toLength: 60, withPad: " ", startingAt: 0)).utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 60) + "\r").utf8))
    }
}
