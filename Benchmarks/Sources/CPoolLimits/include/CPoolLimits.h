#ifndef CPOOLLIMITS_H
#define CPOOLLIMITS_H

// The limit of W3 (BENCHMARKS.md, "Thread pool"): the same CPU-bound tasks on plain threads
// that take the next task's index from one atomic counter, the schedule no pool can beat for
// tasks of equal length. Not part of the library, not a product.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// W3's task in C: `x = index + 1`, then `rounds` times `x = x * 6364136223846793005 +
/// 1442695040888963407; x ^= x >> 33`; returns x.
uint64_t cpl_cpu_task(uint64_t index, uint64_t rounds);

/// Runs `tasks` tasks on `threads` threads (at most 64) created beforehand and released
/// together (a barrier): wall nanoseconds from the release to the last thread's finish, or < 0
/// if a thread could not be created. `counts[t]` (when not NULL) receives the tasks thread t ran.
int64_t cpl_cpu_bound_parallel(int threads, int tasks, uint64_t rounds, int *counts);

/// The same tasks one after the other on the calling thread: wall nanoseconds.
int64_t cpl_cpu_bound_sequential(int tasks, uint64_t rounds);

#ifdef __cplusplus
}
#endif

#endif
