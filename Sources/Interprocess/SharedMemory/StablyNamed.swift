/// A type whose identity in shared memory is a name of its own choosing, the same in every
/// program that uses it.
///
/// Every typed object (``SharedArray``, ``ChannelSender`` and ``ChannelReceiver``) records its
/// element type when it is created and refuses an opener whose type differs. By default the
/// recorded name is the module-qualified Swift name (`String(reflecting:)`), so two programs
/// built separately, each with its own copy of a `Reading` struct, do not match:
/// `Camera.Reading` is not `Dashboard.Reading`. A type that conforms to `StablyNamed` is
/// recorded under ``stableName`` instead, and every program that declares the same name, size,
/// stride and alignment shares the object:
///
/// ```swift
/// // In the camera's executable:
/// struct Reading: StablyNamed {
///     static let stableName = "com.example.camera.Reading.v1"
///     var sequence: UInt64
///     var celsius: Double
/// }
/// var sender = try ChannelSender<Reading>(named: "readings", capacity: 64)
///
/// // In the dashboard's executable, built from another module:
/// struct CameraReading: StablyNamed {
///     static let stableName = "com.example.camera.Reading.v1"
///     var sequence: UInt64
///     var celsius: Double
/// }
/// var receiver = try ChannelReceiver<CameraReading>(named: "readings", mode: .open)
/// ```
///
/// The size, stride and alignment are still checked, so a struct that gained a field under the
/// same name is refused (``SharedMemoryError/Mismatch/elementType(expected:found:)``); give a
/// changed layout a new name (the `.v1` suffix above). Field order and meaning are not
/// recorded: two layouts of the same size under one name are trusted to agree.
public protocol StablyNamed {
    /// The name recorded for this type in every object that holds it: non-empty, at most
    /// ``ElementType/maximumNameLength`` bytes of UTF-8, and unique to this layout. A reverse-DNS
    /// name with a version (`"com.example.Reading.v1"`) keeps it apart from other programs' types.
    static var stableName: String { get }
}
