/// The request of the multi-process service tests: who asks, its sequence number, and a
/// checksum of both, so a torn or misrouted request is detected.
package struct ServiceTestRequest: BitwiseCopyable, Equatable {
    package var client: UInt64
    package var sequence: UInt64
    package var checksum: UInt64

    package init(client: UInt64, sequence: UInt64) {
        self.client = client
        self.sequence = sequence
        checksum = ServiceTestRequest.checksum(client, sequence)
    }

    package var isIntact: Bool { checksum == ServiceTestRequest.checksum(client, sequence) }

    static func checksum(_ client: UInt64, _ sequence: UInt64) -> UInt64 {
        (client &* 0x9E37_79B9_7F4A_7C15) ^ (sequence &* 0xBF58_476D_1CE4_E5B9) ^ 0x5A5A
    }
}

/// The response to a ``ServiceTestRequest``: the request's client and sequence, which server
/// answered, part `part` of the answer, and a value only the right request yields.
package struct ServiceTestResponse: BitwiseCopyable, Equatable {
    package var client: UInt64
    package var sequence: UInt64
    package var server: UInt64
    package var part: UInt64
    package var value: UInt64

    package init(answering request: ServiceTestRequest, server: UInt64, part: UInt64 = 0) {
        client = request.client
        sequence = request.sequence
        self.server = server
        self.part = part
        value = ServiceTestResponse.value(request.client, request.sequence, part)
    }

    /// Whether this answers `request` (as part `part`).
    package func answers(_ request: ServiceTestRequest, part: UInt64 = 0) -> Bool {
        client == request.client && sequence == request.sequence && self.part == part
            && value == ServiceTestResponse.value(client, sequence, part)
    }

    static func value(_ client: UInt64, _ sequence: UInt64, _ part: UInt64) -> UInt64 {
        (client &+ 1) &* 0x94D0_49BB_1331_11EB ^ sequence &* 31 ^ part &* 0xBF58_476D_1CE4_E5B9
    }
}
