import Interprocess

print("peer \(ProcessIdentity.current)")
