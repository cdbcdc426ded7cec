// _GNU_SOURCE must come before any system header: it exposes FUTEX_*, O_TMPFILE, F_OFD_*,
// CPU_COUNT, pthread_mutex_clocklock and pthread_setname_np. It is defined here rather than in
// the public header because defining it there would change the declarations Swift's Glibc
// module sees in every other translation unit.
#define _GNU_SOURCE 1

#include "CInterprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

// Layouts Swift relies on. Swift reserves CIPC_MUTEX_STORAGE bytes, 8-byte aligned, for a
// pthread_mutex_t inside shared memory; the futex words are 32-bit and naturally aligned.
_Static_assert(sizeof(pthread_mutex_t) <= CIPC_MUTEX_STORAGE, "pthread_mutex_t outgrew its slot");
_Static_assert(_Alignof(pthread_mutex_t) <= 8, "pthread_mutex_t needs more than 8-byte alignment");
_Static_assert(sizeof(uint32_t) == 4, "futex words are 32-bit");
_Static_assert(sizeof(struct timespec) == 16, "timespec layout assumed by Deadline");
_Static_assert(CIPC_SEAL_SEAL == F_SEAL_SEAL && CIPC_SEAL_SHRINK == F_SEAL_SHRINK && CIPC_SEAL_GROW == F_SEAL_GROW,
               "seal values differ from the kernel's");
_Static_assert(CIPC_MADV_POPULATE_WRITE == MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE differs from the kernel's");
_Static_assert(CIPC_MADV_POPULATE_READ == MADV_POPULATE_READ, "MADV_POPULATE_READ differs from the kernel's");

int cipc_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline) {
    // FUTEX_WAIT_BITSET with MATCH_ANY behaves as FUTEX_WAIT except that its timeout is an
    // absolute CLOCK_MONOTONIC time (FUTEX_CLOCK_REALTIME is not set).
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    return rc == 0 ? 0 : -errno;
}

int cipc_futex_wake(uint32_t *word, int32_t count) {
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return rc >= 0 ? (int)rc : -errno;
}

// Headers older than Linux 5.16 lack the syscall number; it is 449 in the generic table every
// architecture shares since 5.1.
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
// FUTEX2_SIZE_U32 (named FUTEX_32 in older headers): a 32-bit word; FUTEX2_PRIVATE stays clear.
#define CIPC_FUTEX2_SIZE_U32 0x02

_Static_assert(sizeof(cipc_futex_waiter) == 24, "struct futex_waitv is 24 bytes");

uint32_t cipc_futex_waitv_shared_u32(void) { return CIPC_FUTEX2_SIZE_U32; }

int cipc_futex_waitv(cipc_futex_waiter *waiters, uint32_t count, const struct timespec *deadline) {
    // The timeout of futex_waitv is always absolute, on the clock named by the last argument.
    long rc = syscall(SYS_futex_waitv, waiters, count, 0, deadline, CLOCK_MONOTONIC);
    return rc >= 0 ? (int)rc : -errno;
}

int cipc_mutex_init(pthread_mutex_t *mutex) {
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc != 0) return -rc;
    if ((rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) != 0) goto out;
    if ((rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) != 0) goto out;
    // ERRORCHECK turns relocking by the owner into EDEADLK and foreign unlocks into EPERM
    // instead of undefined behaviour.
    if ((rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK)) != 0) goto out;
    rc = pthread_mutex_init(mutex, &attr);
out:
    pthread_mutexattr_destroy(&attr);
    return -rc;
}

int cipc_mutex_lock(pthread_mutex_t *mutex, const struct timespec *deadline) {
    int rc = deadline == NULL ? pthread_mutex_lock(mutex)
                              : pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
    return -rc;
}

int cipc_mutex_unlock(pthread_mutex_t *mutex) { return -pthread_mutex_unlock(mutex); }
int cipc_mutex_consistent(pthread_mutex_t *mutex) { return -pthread_mutex_consistent(mutex); }

int cipc_o_tmpfile_flags(void) { return O_TMPFILE | O_RDWR | O_CLOEXEC; }

int cipc_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd >= 0 ? fd : -errno;
}

int cipc_add_seals(int fd, int seals) { return fcntl(fd, F_ADD_SEALS, seals) == 0 ? 0 : -errno; }

int cipc_get_seals(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 ? seals : -errno;
}

int cipc_send_descriptor(int socket, int fd) {
    // One data byte: a stream socket cannot carry ancillary data without at least one.
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t sent;
    do {
        sent = sendmsg(socket, &message, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent == 1 ? 0 : (sent < 0 ? -errno : -EIO);
}

int cipc_receive_descriptors(int socket, int *descriptors, int capacity, int *count, bool *truncated) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    // Room for more descriptors than the caller wants, so that a message with too many is
    // seen as such (and every one of them closed) rather than cut short by the kernel.
    union {
        char buffer[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr message = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
    ssize_t received;
    do {
        received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return -errno;
    *count = 0;
    *truncated = (message.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            if (*count < capacity) descriptors[*count] = fd;
            else close(fd);
            (*count)++;
        }
    }
    return (int)received;
}

int cipc_pidfd_open(int32_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? (int)fd : -errno;
}

int cipc_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

int32_t cipc_gettid(void) { return (int32_t)syscall(SYS_gettid); }

int cipc_ofd_lock(int fd, int type, int64_t start, int64_t len, bool wait) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);  // OFD locks require l_pid == 0.
    fl.l_type = type == 0 ? F_UNLCK : (type == 1 ? F_RDLCK : F_WRLCK);
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    int rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    if (rc == 0) return 0;
    return errno == EACCES ? -EAGAIN : -errno;
}

int cipc_ofd_query(int fd, int type, int64_t start, int64_t len, int *held_type, int64_t *held_start, int64_t *held_len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type == 1 ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -errno;
    if (fl.l_type == F_UNLCK) return 0;
    *held_type = fl.l_type == F_RDLCK ? 1 : 2;
    *held_start = fl.l_start;
    *held_len = fl.l_len;
    return 1;
}

int cipc_o_path_flags(void) { return O_PATH | O_NOFOLLOW | O_CLOEXEC; }

int cipc_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    return CPU_COUNT(&set);
}

int cipc_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

int cipc_set_current_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = '\0';
    return -pthread_setname_np(pthread_self(), truncated);
}

int cipc_get_current_thread_name(char *buffer, int length) {
    return -pthread_getname_np(pthread_self(), buffer, (size_t)length);
}

// MARK: - SIGBUS guard
//
// The table. Each slot's `state` says who may read its other fields:
//
// | state  | meaning                                   | moved by                              |
// |--------|-------------------------------------------|---------------------------------------|
// | FREE   | unused                                    | register: FREE -> BUSY (CAS)          |
// | BUSY   | a registrar is writing it, or an          | register: BUSY -> ACTIVE (release);   |
// |        | unregistration is retiring it             | unregister: BUSY -> FREE              |
// | ACTIVE | the handler may act on [start, end)       | unregister: ACTIVE -> BUSY (CAS)      |
//
// The handler acts only on ACTIVE slots. Unregistration retires a slot (ACTIVE -> BUSY) and
// then waits until no handler is running before it lets the caller unmap: a handler that saw
// the slot ACTIVE just before must not map zero pages over an address range that is unmapped,
// and maybe reused by an unrelated mapping, by then. The two sides form a Dekker pair (the
// handler: announce itself, then read the state; unregister: retire, then read the handler
// count), which is why both are sequentially consistent.
//
// Every function here is compiled without sanitizer instrumentation (CIPC_UNINSTRUMENTED):
// the handler runs inside a synchronous fault, which may hit while the faulting thread is
// inside a sanitizer's runtime — TSan's implementation of an atomic operation on the mapping,
// holding one of its locks — and that runtime is not reentrant: an instrumented atomic here
// waited for that lock forever (found by running the channel truncation tests under TSan).
// `no_sanitize("thread")` is not enough, since it still instruments atomics. The table is only
// ever touched by these functions, so the sanitizers lose nothing they could check.
#if defined(__has_attribute) && __has_attribute(disable_sanitizer_instrumentation)
#define CIPC_UNINSTRUMENTED __attribute__((disable_sanitizer_instrumentation))
#else
#define CIPC_UNINSTRUMENTED
#endif

#define CIPC_GUARD_FREE 0u
#define CIPC_GUARD_BUSY 1u
#define CIPC_GUARD_ACTIVE 2u

struct cipc_guard_range {
    _Atomic(uint32_t) state;
    /// Serialises the handlers replacing pages of this range (a spin lock, held only across
    /// one mmap; SIGBUS is blocked while it is held, so its holder cannot be interrupted by a
    /// second fault of its own).
    _Atomic(uint32_t) replacing;
    /// Set once a fault was absorbed (or damage was reported another way); never cleared.
    _Atomic(uint32_t) poisoned;
    _Atomic(int) protection;
    _Atomic(uintptr_t) start;
    _Atomic(uintptr_t) end;
    /// `[replaced_from, end)` is already anonymous zero pages (== end: nothing replaced).
    _Atomic(uintptr_t) replaced_from;
};

static struct cipc_guard_range cipc_guard_table[CIPC_SIGBUS_GUARD_CAPACITY];
/// One past the highest slot ever used: the handler scans no further.
static _Atomic(uint32_t) cipc_guard_used;
/// Handlers currently between announcing themselves and finishing with the table.
static _Atomic(uint32_t) cipc_guard_handlers_running;
/// The disposition of SIGBUS before ours, written once before our handler is installed.
static struct sigaction cipc_guard_previous;
/// Set when the previous handler was one-shot (SA_RESETHAND) and has run: from then on the
/// previous disposition is SIG_DFL, as the kernel would have made it.
static _Atomic(uint32_t) cipc_guard_previous_was_reset;
static uintptr_t cipc_guard_page_size;
static pthread_once_t cipc_guard_once = PTHREAD_ONCE_INIT;
static int cipc_guard_install_error;

CIPC_UNINSTRUMENTED
static void cipc_guard_restore_default_and_return(const siginfo_t *info) {
    // Put back the default action and return. A fault re-executes the faulting instruction,
    // faults again and is killed by the default action, exactly as without us (with the same
    // si_addr and core dump). A signal sent with kill(2) is not re-raised by returning, so it
    // is raised again; it stays pending (SIGBUS is blocked in a handler) until we return.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, NULL);
    if (info->si_code <= 0) raise(SIGBUS);
}

/// Passes a SIGBUS the guard does not absorb to the previous disposition, as the kernel would
/// have delivered it.
CIPC_UNINSTRUMENTED
static void cipc_guard_chain(int signal, siginfo_t *info, void *context) {
    const struct sigaction *previous = &cipc_guard_previous;
    // Relaxed: the flag is set and read by SIGBUS handlers only, which the kernel serialises
    // per thread; across threads, a handler that misses a concurrent reset calls the one-shot
    // handler a second time at worst, as two simultaneous deliveries would have.
    bool reset = atomic_load_explicit(&cipc_guard_previous_was_reset, memory_order_relaxed) != 0;
    bool siginfo = (previous->sa_flags & SA_SIGINFO) != 0;
    // sa_handler and sa_sigaction share storage: SIG_DFL and SIG_IGN read the same in both.
    void (*plain)(int) = previous->sa_handler;
    if (reset || plain == SIG_DFL) {
        cipc_guard_restore_default_and_return(info);
        return;
    }
    if (plain == SIG_IGN) {
        // A fault cannot be ignored: the kernel turns an ignored synchronous SIGBUS into the
        // default action. A SIGBUS sent with kill(2) is ignored, as it would have been.
        if (info->si_code > 0) cipc_guard_restore_default_and_return(info);
        return;
    }
    if (previous->sa_flags & SA_RESETHAND)
        atomic_store_explicit(&cipc_guard_previous_was_reset, 1, memory_order_relaxed);
    // The mask the previous handler was installed with, added to the current one; SIGBUS itself
    // is unblocked for a handler installed with SA_NODEFER.
    sigset_t mask, saved;
    memcpy(&mask, &previous->sa_mask, sizeof mask);
    pthread_sigmask(SIG_BLOCK, &mask, &saved);
    if (previous->sa_flags & SA_NODEFER) {
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
    }
    if (siginfo) previous->sa_sigaction(signal, info, context);
    else plain(signal);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/// Replaces the lost pages under `address` if it lies in a registered range; returns whether
/// it did (or another handler already had).
CIPC_UNINSTRUMENTED
static bool cipc_guard_absorb(uintptr_t address) {
    uint32_t used = atomic_load_explicit(&cipc_guard_used, memory_order_acquire);
    for (uint32_t i = 0; i < used; i++) {
        struct cipc_guard_range *range = &cipc_guard_table[i];
        // SYNC POINT: sequentially consistent, the handler's half of the Dekker pair with
        // cipc_sigbus_guard_unregister (see the table's comment). Also acquires the fields a
        // registrar wrote before its releasing store of ACTIVE.
        if (atomic_load_explicit(&range->state, memory_order_seq_cst) != CIPC_GUARD_ACTIVE) continue;
        // Relaxed: ordered after the acquiring load of ACTIVE above, and not written again
        // while the slot is ACTIVE.
        uintptr_t start = atomic_load_explicit(&range->start, memory_order_relaxed);
        uintptr_t end = atomic_load_explicit(&range->end, memory_order_relaxed);
        if (address < start || address >= end) continue;
        uintptr_t page = address & ~(cipc_guard_page_size - 1);
        // SYNC POINT: acquiring, pairs with the releasing store that frees the lock below: the
        // previous replacer's `replaced_from` is visible.
        while (atomic_exchange_explicit(&range->replacing, 1, memory_order_acquire) != 0) cipc_cpu_relax();
        // Relaxed: written only under `replacing`.
        uintptr_t from = atomic_load_explicit(&range->replaced_from, memory_order_relaxed);
        bool absorbed = true;
        if (page < from) {
            // Zero pages from the faulting page to what is already replaced — not just the
            // faulting page. A truncation removes everything past the new length, so every
            // later page of the range would fault too: one mmap here saves one signal per page,
            // and splits the mapping once rather than once per page (a scattered access pattern
            // could otherwise exhaust vm.max_map_count, and then the next fault could not be
            // absorbed). The range is damaged anyway; pages after a punched hole that were still
            // intact become private zeros too, which is what "damaged" promises: nothing past
            // the first lost page is shared any more. Never [from, end): those pages may hold
            // what this process wrote since they were replaced.
            //
            // The raw system call rather than mmap(3): the sanitizers intercept mmap, and their
            // interceptors are not meant to run inside a fault handler.
            long rc = syscall(SYS_mmap, (void *)page, (size_t)(from - page),
                              atomic_load_explicit(&range->protection, memory_order_relaxed),
                              MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, (off_t)0);
            if (rc == -1 || (uintptr_t)rc != page) {
                absorbed = false;  // out of memory or mappings: the fault cannot be absorbed
            } else {
                atomic_store_explicit(&range->replaced_from, page, memory_order_relaxed);
                // Relaxed: the flag publishes no memory of its own; readers only test it (the
                // replacement itself is a page-table change every thread sees once mmap returned).
                atomic_store_explicit(&range->poisoned, 1, memory_order_relaxed);
            }
        }
        // SYNC POINT: releasing, pairs with the acquiring exchange above.
        atomic_store_explicit(&range->replacing, 0, memory_order_release);
        return absorbed;
    }
    return false;
}

CIPC_UNINSTRUMENTED
static void cipc_guard_handler(int signal, siginfo_t *info, void *context) {
    int saved_errno = errno;
    // Only a fault on an address with no backing page (beyond the end of the file, or a page a
    // full file system cannot allocate) is ours. BUS_ADRALN and the hardware-error codes are
    // not, nor is a SIGBUS sent by kill(2) (si_code <= 0: si_addr means nothing).
    if (info != NULL && info->si_code == BUS_ADRERR) {
        // SYNC POINT: sequentially consistent, the handler's half of the Dekker pair with
        // cipc_sigbus_guard_unregister: announced before any slot's state is read.
        atomic_fetch_add_explicit(&cipc_guard_handlers_running, 1, memory_order_seq_cst);
        bool absorbed = cipc_guard_absorb((uintptr_t)info->si_addr);
        // SYNC POINT: releasing; an unregistration that reads the count as 0 sees every store
        // this handler made to the slot.
        atomic_fetch_sub_explicit(&cipc_guard_handlers_running, 1, memory_order_release);
        if (absorbed) {
            errno = saved_errno;
            return;  // the faulting instruction runs again, on the zero page
        }
    }
    errno = saved_errno;
    // Not ours (or not absorbable): the count is already back down, so a previous handler that
    // never returns (it exits, or siglongjmps) cannot keep an unregistration waiting.
    cipc_guard_chain(signal, info, context);
}

CIPC_UNINSTRUMENTED
static void cipc_guard_install(void) {
    cipc_guard_page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    // The previous disposition is read first and stored before our handler exists, so the
    // handler never sees it half-written.
    if (sigaction(SIGBUS, NULL, &cipc_guard_previous) != 0) {
        cipc_guard_install_error = errno;
        return;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = cipc_guard_handler;
    // SA_ONSTACK: run on the thread's alternate stack if it has one (a crash reporter's), as
    // the handler we replace may have expected. No SA_NODEFER: a second SIGBUS while the
    // handler runs would be ours, a bug, and should kill rather than recurse.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, NULL) != 0) cipc_guard_install_error = errno;
}

CIPC_UNINSTRUMENTED
int cipc_sigbus_guard_register(void *start, size_t length, int protection) {
    pthread_once(&cipc_guard_once, cipc_guard_install);
    if (cipc_guard_install_error != 0) return -cipc_guard_install_error;
    for (uint32_t i = 0; i < CIPC_SIGBUS_GUARD_CAPACITY; i++) {
        struct cipc_guard_range *range = &cipc_guard_table[i];
        uint32_t expected = CIPC_GUARD_FREE;
        // Relaxed: the claim only excludes other registrars; what the handler may read is
        // published by the releasing store of ACTIVE below.
        if (!atomic_compare_exchange_strong_explicit(&range->state, &expected, CIPC_GUARD_BUSY,
                                                     memory_order_relaxed, memory_order_relaxed))
            continue;
        // Relaxed: published by the releasing store of ACTIVE.
        atomic_store_explicit(&range->start, (uintptr_t)start, memory_order_relaxed);
        atomic_store_explicit(&range->end, (uintptr_t)start + length, memory_order_relaxed);
        atomic_store_explicit(&range->replaced_from, (uintptr_t)start + length, memory_order_relaxed);
        atomic_store_explicit(&range->protection, protection, memory_order_relaxed);
        atomic_store_explicit(&range->poisoned, 0, memory_order_relaxed);
        atomic_store_explicit(&range->replacing, 0, memory_order_relaxed);
        // Raise the scan bound before the slot goes ACTIVE, so a handler that sees it ACTIVE
        // also scans that far. Relaxed CAS loop: the releasing store of ACTIVE orders it.
        uint32_t used = atomic_load_explicit(&cipc_guard_used, memory_order_relaxed);
        while (used < i + 1 &&
               !atomic_compare_exchange_weak_explicit(&cipc_guard_used, &used, i + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
        }
        // SYNC POINT: releasing; pairs with the handler's load of the state: it sees the
        // fields above (and the scan bound) once it sees ACTIVE.
        atomic_store_explicit(&range->state, CIPC_GUARD_ACTIVE, memory_order_release);
        return 0;
    }
    return -ENOSPC;
}

/// The ACTIVE slot whose range starts at `start`, or NULL.
CIPC_UNINSTRUMENTED
static struct cipc_guard_range *cipc_guard_find(const void *start) {
    uint32_t used = atomic_load_explicit(&cipc_guard_used, memory_order_acquire);
    for (uint32_t i = 0; i < used; i++) {
        struct cipc_guard_range *range = &cipc_guard_table[i];
        // Acquiring: pairs with the registrar's store of ACTIVE, so `start` is its value.
        if (atomic_load_explicit(&range->state, memory_order_acquire) == CIPC_GUARD_ACTIVE &&
            atomic_load_explicit(&range->start, memory_order_relaxed) == (uintptr_t)start)
            return range;
    }
    return NULL;
}

CIPC_UNINSTRUMENTED
int cipc_sigbus_guard_unregister(void *start) {
    struct cipc_guard_range *range = cipc_guard_find(start);
    if (range == NULL) return -ENOENT;
    uint32_t expected = CIPC_GUARD_ACTIVE;
    // SYNC POINT: sequentially consistent, unregistration's half of the Dekker pair: retired
    // before the handler count is read, so a handler either sees the slot retired or is
    // counted below.
    if (!atomic_compare_exchange_strong_explicit(&range->state, &expected, CIPC_GUARD_BUSY, memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return -ENOENT;  // a concurrent unregistration of the same range (a caller's bug)
    // Handlers are short (one mmap), and never wait for anything this thread holds.
    while (atomic_load_explicit(&cipc_guard_handlers_running, memory_order_seq_cst) != 0) cipc_cpu_relax();
    // Releasing: keeps the wait above (and this thread's reads of the slot) before the slot
    // can be claimed again. A later registrar writes every field afresh and publishes them
    // itself, so nothing written here needs to reach it.
    atomic_store_explicit(&range->state, CIPC_GUARD_FREE, memory_order_release);
    return 0;
}

CIPC_UNINSTRUMENTED
int cipc_sigbus_guard_is_poisoned(const void *start) {
    struct cipc_guard_range *range = cipc_guard_find(start);
    if (range == NULL) return -ENOENT;
    // Relaxed: see the handler's store.
    return atomic_load_explicit(&range->poisoned, memory_order_relaxed) != 0 ? 1 : 0;
}

CIPC_UNINSTRUMENTED
int cipc_sigbus_guard_mark_poisoned(const void *start) {
    struct cipc_guard_range *range = cipc_guard_find(start);
    if (range == NULL) return -ENOENT;
    // Relaxed: see the handler's store.
    atomic_store_explicit(&range->poisoned, 1, memory_order_relaxed);
    return 0;
}
