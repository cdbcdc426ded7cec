#include "CPoolLimits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/// Keeps the compiler from deleting the arithmetic.
static _Atomic uint64_t sink;

uint64_t cpl_cpu_task(uint64_t index, uint64_t rounds) {
    uint64_t x = index + 1;
    for (uint64_t i = 0; i < rounds; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        x ^= x >> 33;
    }
    return x;
}

typedef struct {
    /// Every thread created and waiting; then the timed release.
    pthread_barrier_t ready;
    pthread_barrier_t start;
    _Atomic int next;
    int tasks;
    uint64_t rounds;
} shared_state;

typedef struct {
    shared_state *shared;
    int count;
} worker_state;

static void *worker(void *argument) {
    worker_state *w = argument;
    shared_state *s = w->shared;
    pthread_barrier_wait(&s->ready);
    pthread_barrier_wait(&s->start);
    for (;;) {
        // Relaxed: the index only hands out tasks; the join orders everything else.
        const int i = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (i >= s->tasks) break;
        atomic_fetch_add_explicit(&sink, cpl_cpu_task((uint64_t)i, s->rounds) & 1, memory_order_relaxed);
        w->count++;
    }
    return NULL;
}

int64_t cpl_cpu_bound_parallel(int threads, int tasks, uint64_t rounds, int *counts) {
    if (threads < 1 || threads > 64) return -1;
    shared_state s = {.tasks = tasks, .rounds = rounds};
    atomic_init(&s.next, 0);
    pthread_barrier_init(&s.ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&s.start, NULL, (unsigned)threads + 1);
    pthread_t ids[64];
    worker_state states[64];
    for (int t = 0; t < threads; t++) {
        states[t] = (worker_state){&s, 0};
        if (pthread_create(&ids[t], NULL, worker, &states[t]) != 0) return -1;
    }
    pthread_barrier_wait(&s.ready);
    const uint64_t start = now_ns();
    pthread_barrier_wait(&s.start);
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    const uint64_t end = now_ns();
    pthread_barrier_destroy(&s.ready);
    pthread_barrier_destroy(&s.start);
    if (counts)
        for (int t = 0; t < threads; t++) counts[t] = states[t].count;
    return (int64_t)(end - start);
}

int64_t cpl_cpu_bound_sequential(int tasks, uint64_t rounds) {
    const uint64_t start = now_ns();
    for (int i = 0; i < tasks; i++)
        atomic_fetch_add_explicit(&sink, cpl_cpu_task((uint64_t)i, rounds) & 1, memory_order_relaxed);
    return (int64_t)(now_ns() - start);
}
