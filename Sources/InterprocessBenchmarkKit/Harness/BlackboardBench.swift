import Interprocess

/// The blackboard's costs, measured in this process, uncontended, beside a Swift `Dictionary`
/// lookup of the same key in the same run: what the target compares (a key lookup plus a
/// consistent read ≤ 2× a `Dictionary` lookup). Each figure is the median of the timed rounds; the
/// ratio is the median of the rounds' ratios.
struct BlackboardFigures: Codable {
    /// Keys on the blackboard (and in the dictionary), `Double` values.
    var keys: Int
    /// Operations per timed batch.
    var operationsPerBatch: Int
    /// Timed rounds (one batch of each measurement per round).
    var rounds: Int
    /// `[String: Double]` lookup of one key, ns.
    var dictionaryLookupNanoseconds: Double
    /// `BlackboardReader.value(forKey:as:)` of the same key: the name lookup, the type check and
    /// the consistent read, ns.
    var lookupAndReadNanoseconds: Double
    /// `BlackboardReader.read(_:)` through a `BlackboardKey`: the consistent read alone, ns.
    var keyReadNanoseconds: Double
    /// `BlackboardWriter.write(_:to:)` with nobody waiting, ns.
    var writeNanoseconds: Double
    /// The median over the rounds of lookup-and-read over `Dictionary` lookup, each round's two
    /// batches run back to back.
    var lookupAndReadRatioToDictionary: Double

    /// The line `shm bench` prints under its table.
    var line: String {
        String(
            format:
                "blackboard (in-process, uncontended, %d Double keys): Dictionary lookup %.1f ns; lookup + consistent read %.1f ns (%.2f× Dictionary); key-handle read %.1f ns; write %.1f ns",
            keys, dictionaryLookupNanoseconds, lookupAndReadNanoseconds, lookupAndReadRatioToDictionary,
            keyReadNanoseconds, writeNanoseconds)
    }
}

/// Keeps `value` from being optimised away or hoisted out of a timed loop.
@inline(never)
func opaque<T>(_ value: T) -> T { value }

enum BlackboardBench {
    /// Measures on a blackboard of its own, named after `base`, removed afterwards.
    static func measure(base: String, operations: Int, rounds: Int) throws -> BlackboardFigures {
        let name = base + ".blackboard"
        defer { try? SharedMemory.remove(named: name) }
        let keyCount = 64
        let names = (0..<keyCount).map { "sensor.\($0)" }
        var writer = try BlackboardWriter(
            named: name, configuration: BlackboardConfiguration(keyCapacity: keyCount), mode: .create)
        var dictionary: [String: Double] = [:]
        for (i, key) in names.enumerated() {
            try writer.addKey(key, as: Double.self, initialValue: Double(i))
            dictionary[key] = Double(i)
        }
        let reader = try BlackboardReader(named: name)
        let key = names[keyCount / 2]
        let handle = try reader.key(key, as: Double.self)
        let writerKey = try writer.key(key, as: Double.self)

        func timed(_ body: () throws -> Double) rethrows -> Double {
            let start = monotonicNanoseconds()
            let sum = try body()
            let elapsed = monotonicNanoseconds() - start
            _ = opaque(sum)
            return Double(elapsed) / Double(operations)
        }
        // The four measurements interleaved, batch by batch, so that each round's batches see
        // the same load (the ratio is taken per round, then the median of the rounds).
        var dictionaryLookups: [Double] = [], lookupsAndReads: [Double] = [], keyReads: [Double] = []
        var writes: [Double] = [], ratios: [Double] = []
        var value = 0.0
        for round in 0..<(rounds + 1) {
            let d = timed {
                var sum = 0.0
                for _ in 0..<operations { sum += dictionary[opaque(key)] ?? 0 }
                return sum
            }
            let l = try timed {
                var sum = 0.0
                for _ in 0..<operations { sum += try reader.value(forKey: opaque(key), as: Double.self) ?? 0 }
                return sum
            }
            let k = try timed {
                var sum = 0.0
                for _ in 0..<operations { sum += try reader.value(opaque(handle)) ?? 0 }
                return sum
            }
            let w = try timed {
                for _ in 0..<operations {
                    value += 1
                    try writer.write(value, to: opaque(writerKey))
                }
                return value
            }
            guard round > 0 else { continue }  // the first round warms up
            dictionaryLookups.append(d)
            lookupsAndReads.append(l)
            keyReads.append(k)
            writes.append(w)
            ratios.append(l / d)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let dictionaryLookup = median(dictionaryLookups), lookupAndRead = median(lookupsAndReads)
        let keyRead = median(keyReads), write = median(writes)
        return BlackboardFigures(
            keys: keyCount, operationsPerBatch: operations, rounds: rounds,
            dictionaryLookupNanoseconds: dictionaryLookup,
            lookupAndReadNanoseconds: lookupAndRead, keyReadNanoseconds: keyRead, writeNanoseconds: write,
            lookupAndReadRatioToDictionary: median(ratios))
    }
}
