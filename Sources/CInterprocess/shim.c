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
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// Layouts Swift relies on. Swift reserves CIPC_MUTEX_STORAGE bytes, 8-byte aligned, for a
// pthread_mutex_t inside shared memory; the futex words are 32-bit and naturally aligned.
_Static_assert(sizeof(pthread_mutex_t) <= CIPC_MUTEX_STORAGE, "pthread_mutex_t outgrew its slot");
_Static_assert(_Alignof(pthread_mutex_t) <= 8, "pthread_mutex_t needs more than 8-byte alignment");
_Static_assert(sizeof(uint32_t) == 4, "futex words are 32-bit");
_Static_assert(sizeof(struct timespec) == 16, "timespec layout assumed by Deadline");

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
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int cipc_pidfd_open(int32_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? (int)fd : -errno;
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

int cipc_ofd_test(int fd, int type, int64_t start, int64_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type == 1 ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -errno;
    return fl.l_type == F_UNLCK ? 0 : 1;
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
