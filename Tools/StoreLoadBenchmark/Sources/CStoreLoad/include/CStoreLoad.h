#ifndef CSTORELOAD_H
#define CSTORELOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>

/// A StoreLoad barrier written as the Linux kernel's smp_mb() on x86-64: a locked add of 0 to
/// a stack slot. Elsewhere the C11 sequentially consistent fence.
static inline void csl_locked_add_barrier(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/// Pins the calling thread to `cpu`; returns 0 or an errno value.
static inline int csl_pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

#endif
