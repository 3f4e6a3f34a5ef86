import FabricCore
import Foundation

/// A POSIX shared-memory object (/dev/shm/NAME) mapped into this process. The name exists
/// only so the other side can find the object: whoever maps it last removes the name, so a
/// crash afterwards leaves nothing in /dev/shm; the memory lives until its last mapping goes.
final class SharedSegment {
    let name: String
    let base: UnsafeMutableRawPointer
    let size: Int
    /// This process created the name and must remove it if nobody else does.
    private var ownsName: Bool

    private init(name: String, base: UnsafeMutableRawPointer, size: Int, ownsName: Bool) {
        self.name = name
        self.base = base
        self.size = size
        self.ownsName = ownsName
    }

    /// Creates the object, zero-filled, and maps it. A leftover of a crashed job with the same
    /// token is replaced.
    static func create(name: String, size: Int, what: String) throws -> SharedSegment {
        var fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        if fd < 0 && errno == EEXIST {
            shm_unlink(name)
            fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        }
        guard fd >= 0 else { throw SystemCallError("shm_open", "\(what): creating /dev/shm\(name)") }
        defer { Glibc.close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = SystemCallError("ftruncate", "\(what): sizing /dev/shm\(name) to \(size) bytes (is /dev/shm full?)")
            shm_unlink(name)
            throw error
        }
        do {
            return SharedSegment(name: name, base: try map(fd, size: size, name: name, what: what), size: size, ownsName: true)
        } catch {
            shm_unlink(name)
            throw error
        }
    }

    /// Maps an object another rank created; its size is the object's.
    static func open(name: String, what: String) throws -> SharedSegment {
        let fd = shm_open(name, O_RDWR, 0)
        guard fd >= 0 else { throw SystemCallError("shm_open", "\(what): opening /dev/shm\(name)") }
        defer { Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw SystemCallError("fstat", "\(what): /dev/shm\(name)") }
        let size = Int(status.st_size)
        return SharedSegment(name: name, base: try map(fd, size: size, name: name, what: what), size: size, ownsName: false)
    }

    private static func map(_ fd: Int32, size: Int, name: String, what: String) throws -> UnsafeMutableRawPointer {
        // MAP_POPULATE: page faults happen here, at setup, not in the first timed message.
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw SystemCallError("mmap", "\(what): mapping /dev/shm\(name) (\(size) bytes)")
        }
        return p
    }

    /// Removes the name; the mapping stays. A name already gone is fine.
    func unlink() {
        shm_unlink(name)
        ownsName = false
    }

    /// Another rank removed the name: leave it alone from now on.
    func disown() { ownsName = false }

    deinit {
        munmap(base, size)
        if ownsName { shm_unlink(name) }
    }
}
