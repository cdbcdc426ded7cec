// The C shim of Interprocess.
//
// Swift cannot reach these directly: `syscall(2)` is variadic and therefore unavailable in
// Swift, `SYS_futex`/`FUTEX_*`/`O_TMPFILE`/`F_OFD_*`/`CPU_COUNT` are macros Swift does not
// import, and `pthread_mutex_clocklock`/`pthread_setname_np` are `_GNU_SOURCE` declarations the
// Glibc module does not expose. Each function below exists for one of those reasons and does
// nothing else.
//
// Return convention (one for the whole shim): `>= 0` is success (a value where one is
// returned), a negative value is `-errno`. No function here touches the thread's `errno`
// contract beyond that.
#ifndef CINTERPROCESS_H
#define CINTERPROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <time.h>
#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - futex (always shared, never FUTEX_PRIVATE_FLAG: the words live in memory that other
// processes map, and a private futex keys on the address space, so it could never wake them).

/// Sleeps while `*word == expected`, until woken or until the absolute CLOCK_MONOTONIC time
/// `deadline` (NULL: no deadline). Uses FUTEX_WAIT_BITSET, whose timeout is absolute and on the
/// monotonic clock, so spurious wake-ups and EINTR never stretch the total wait.
/// Returns 0 when woken (possibly spuriously), -EAGAIN when `*word != expected` on entry,
/// -ETIMEDOUT, -EINTR, or another -errno.
int cipc_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline);

/// Wakes at most `count` waiters sleeping on `word` (INT32_MAX: all).
/// Returns the number woken or -errno.
int cipc_futex_wake(uint32_t *word, int32_t count);

/// One word of a vectored wait: the layout of the kernel's `struct futex_waitv` (Linux 5.16),
/// declared here so the shim builds against headers that predate it.
typedef struct cipc_futex_waiter {
    uint64_t value;
    uint64_t address;
    uint32_t flags;
    uint32_t reserved;
} cipc_futex_waiter;

/// The flags of a 32-bit, shared (never FUTEX2_PRIVATE) word of a vectored wait.
uint32_t cipc_futex_waitv_shared_u32(void);
/// The most words one vectored wait takes (FUTEX_WAITV_MAX).
#define CIPC_FUTEX_WAITV_MAX 128

/// futex_waitv(2): sleeps until one of the `count` words no longer holds its value or is woken,
/// or until the absolute CLOCK_MONOTONIC time `deadline` (NULL: no deadline).
/// Returns the index of a woken word, -EAGAIN when a word differed on entry, -ETIMEDOUT,
/// -EINTR, -ENOSYS (a kernel before 5.16, or a seccomp filter that refuses it), or another -errno.
int cipc_futex_waitv(cipc_futex_waiter *waiters, uint32_t count, const struct timespec *deadline);

// MARK: - robust, process-shared pthread mutex

/// Initialises `mutex` as PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST +
/// PTHREAD_MUTEX_ERRORCHECK. Returns 0 or -errno.
int cipc_mutex_init(pthread_mutex_t *mutex);
/// Locks with an absolute CLOCK_MONOTONIC deadline (NULL: wait forever).
/// Returns 0, -EOWNERDEAD (acquired; previous owner died), -ENOTRECOVERABLE, -ETIMEDOUT,
/// -EDEADLK (the caller already holds it) or another -errno.
int cipc_mutex_lock(pthread_mutex_t *mutex, const struct timespec *deadline);
/// Returns 0 or -EPERM (the caller does not hold it) or another -errno.
int cipc_mutex_unlock(pthread_mutex_t *mutex);
/// Marks a mutex acquired with EOWNERDEAD consistent again. Returns 0 or -errno.
int cipc_mutex_consistent(pthread_mutex_t *mutex);
/// The bytes a pthread_mutex_t occupies; Swift reserves `CIPC_MUTEX_STORAGE` for it.
#define CIPC_MUTEX_STORAGE 64

// MARK: - files, descriptors, processes

/// `O_TMPFILE | O_RDWR | O_CLOEXEC` (a compound macro Swift does not import).
int cipc_o_tmpfile_flags(void);
/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING). Returns the descriptor or -errno.
/// Sealing is allowed on every memfd we make: without MFD_ALLOW_SEALING the kernel starts the
/// file with F_SEAL_SEAL, and no seal could ever be added (see cipc_add_seals).
int cipc_memfd_create(const char *name);

/// The file seals (`F_SEAL_*` of fcntl(2)); values checked against the kernel's in shim.c.
#define CIPC_SEAL_SEAL 0x0001
#define CIPC_SEAL_SHRINK 0x0002
#define CIPC_SEAL_GROW 0x0004
/// fcntl(fd, F_ADD_SEALS, seals) (fcntl is variadic, so Swift cannot call it). Returns 0 or
/// -errno (-EPERM: F_SEAL_SEAL is set; -EINVAL: the file does not support sealing).
int cipc_add_seals(int fd, int seals);
/// fcntl(fd, F_GET_SEALS). Returns the seals (>= 0) or -errno (-EINVAL: the file does not
/// support sealing, as for a file in /dev/shm).
int cipc_get_seals(int fd);

/// MADV_POPULATE_WRITE (Linux 5.14; a macro Swift does not import), checked in shim.c.
#define CIPC_MADV_POPULATE_WRITE 23
/// MADV_POPULATE_READ (Linux 5.14), for read-only mappings; checked in shim.c.
#define CIPC_MADV_POPULATE_READ 22

/// Sends one byte carrying the descriptor `fd` as SCM_RIGHTS ancillary data on the Unix
/// socket `socket` (the CMSG_* macros are not importable). MSG_NOSIGNAL: a peer that closed
/// its end is -EPIPE, not a SIGPIPE. Returns 0 or -errno.
int cipc_send_descriptor(int socket, int fd);
/// Receives one message of at most one byte from `socket` and the descriptors it carries,
/// installed close-on-exec (MSG_CMSG_CLOEXEC). Up to `capacity` descriptors are stored in
/// `descriptors` and `*count` is set to the number received; any beyond `capacity` are closed
/// here. `*truncated` is set when the kernel cut the ancillary data short (MSG_CTRUNC: it then
/// discarded, and closed, descriptors that did not fit). Returns the bytes received (0 at end
/// of stream) or -errno.
int cipc_receive_descriptors(int socket, int *descriptors, int capacity, int *count, bool *truncated);

// MARK: - SIGBUS guard
//
// A mapping of a file that another process truncates (or whose pages it removes on a full
// tmpfs) raises SIGBUS on the next touch of a lost page, and the default action kills the
// process. The guard absorbs those faults for the ranges registered here: its handler maps
// anonymous zero pages over the lost part of the range, marks the range poisoned and returns,
// so the faulting instruction completes on the zero page. Faults anywhere else go to the
// handler that was installed before (see shim.c for the exact chaining).
//
// The table is fixed (no allocation in the handler) and written with C11 atomics only; the
// handler takes no lock another thread can hold across a blocking call.

/// How many ranges the guard can watch at once.
#define CIPC_SIGBUS_GUARD_CAPACITY 4096

/// Registers `[start, start + length)` (page-aligned, mapped with `protection`), installing
/// the handler on first use. Returns 0, -ENOSPC when the table is full, or -errno if the
/// handler could not be installed.
int cipc_sigbus_guard_register(void *start, size_t length, int protection);
/// Unregisters the range starting at `start`; returns once no handler can still be acting on
/// it, so the caller may unmap it. Returns 0 or -ENOENT (not registered).
int cipc_sigbus_guard_unregister(void *start);
/// 1 if a fault in the range starting at `start` was absorbed (or the range was marked
/// poisoned), 0 if not, -ENOENT if no such range is registered.
int cipc_sigbus_guard_is_poisoned(const void *start);
/// Marks the range starting at `start` poisoned (damage found another way). Returns 0 or
/// -ENOENT.
int cipc_sigbus_guard_mark_poisoned(const void *start);
/// pidfd_open(pid, 0). Returns the descriptor or -errno.
int cipc_pidfd_open(int32_t pid);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). Returns the descriptor or -errno.
int cipc_eventfd(void);
/// The calling thread's kernel thread id.
int32_t cipc_gettid(void);

/// Places (or, with `wait`, waits for) an open-file-description lock on `[start, start+len)`.
/// `type` is 0 unlock, 1 read (shared), 2 write (exclusive). The kernel releases an OFD lock
/// when the last descriptor of that open file description closes, including on process death.
/// Returns 0, -EAGAIN (held by another open file description, non-waiting form) or -errno.
int cipc_ofd_lock(int fd, int type, int64_t start, int64_t len, bool wait);
/// Tests for a conflicting OFD lock on `[start, start+len)` for a lock of `type` (1 read, 2
/// write), and when one exists says which: its type (1 read,
/// 2 write), start and length (0: to the end of every file). A `type` 1 (read) query conflicts
/// only with *write* locks, which need a descriptor opened for writing: that is how liveness is
/// asked without counting what a read-only process can take. Returns 0 (none), 1 (found) or -errno.
int cipc_ofd_query(int fd, int type, int64_t start, int64_t len, int *held_type, int64_t *held_start, int64_t *held_len);
/// `O_PATH | O_NOFOLLOW | O_CLOEXEC`: a descriptor that names a directory entry's own inode
/// (a symbolic link itself, never its target) without opening it for I/O, so a FIFO cannot
/// block and a device is never opened.
int cipc_o_path_flags(void);

// MARK: - threads and CPUs

/// The number of CPUs in this thread's affinity mask (what the process may run on), or -errno.
int cipc_affinity_cpu_count(void);
/// Pins the calling thread to one CPU. Returns 0 or -errno.
int cipc_pin_current_thread(int cpu);
/// Names the calling thread (truncated to the kernel's 15 bytes). Returns 0 or -errno.
int cipc_set_current_thread_name(const char *name);
/// Reads the calling thread's name into `buffer` (at least 16 bytes). Returns 0 or -errno.
int cipc_get_current_thread_name(char *buffer, int length);

/// A spin-wait hint to the CPU (PAUSE on x86, YIELD on ARM).
static inline void cipc_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// Asks the CPU to bring the cache line at `address` into this core's cache for writing
/// (PREFETCHW on x86-64): a hint, never a fault, whatever the address.
static inline void cipc_prefetch_for_write(const void *address) {
#if defined(__x86_64__)
    // Inline assembly: the baseline x86-64 target has no PRFCHW feature, so the builtin would
    // emit a read prefetch. The encoding (0F 0D /1) is a hint on every x86-64 CPU.
    __asm__ __volatile__("prefetchw (%0)" : : "r"(address));
#else
    __builtin_prefetch(address, 1, 3);
#endif
}

#ifdef __cplusplus
}
#endif

#endif
