/// A failure of the demo, with its one-line reason.
struct DemoFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
