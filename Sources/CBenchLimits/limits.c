// The C limit rows of `shm bench`; see CBenchLimits.h. Written as a C programmer would write
// each limit, with the harness's timing method around it.

#include "CBenchLimits.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/// The end marker: the last round trip's value, the last message's sequence.
#define END UINT64_MAX

typedef _Atomic uint64_t atomic_u64;
typedef _Atomic uint32_t atomic_u32;

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/// Tells the compiler the bytes at `p` are used, so a copy out of a slot is never elided.
#define ESCAPE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

/// CLOCK_MONOTONIC in nanoseconds, as the harness reads it.
ALWAYS_INLINE uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/// A spin-wait hint (PAUSE on x86, YIELD on ARM).
ALWAYS_INLINE void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// Between two empty (or full) polls of a ring: one PAUSE, or 16 with `backoff`.
ALWAYS_INLINE void poll_wait(int backoff) {
    if (backoff) {
        for (int i = 0; i < 16; i++) relax();
    } else {
        relax();
    }
}

/// The harness's round-trip method (`timeRoundTrips`): `warmup` untimed round trips stopped
/// after the cap, then up to `rounds` timed ones, one clock read after each reply, stopped
/// after the cap; then the end marker. `TRIP` sends `sequence`, sets `reply` and `rc`;
/// `SEND_END` sets `rc`.
#define RUN_ROUND_TRIPS(run, TRIP, SEND_END)                                                      \
    do {                                                                                          \
        uint64_t sequence = 0;                                                                    \
        uint64_t reply = 0;                                                                       \
        int rc = 0;                                                                               \
        const uint64_t warmup_end = now_ns() + (run)->cap_ns;                                     \
        for (uint64_t i = 0; i < (run)->warmup; i++) {                                            \
            sequence++;                                                                           \
            TRIP;                                                                                 \
            if (rc != 0) return rc;                                                               \
            if (reply != sequence) return CBL_MISMATCH;                                           \
            if ((i & 255) == 255 && now_ns() >= warmup_end) break;                                \
        }                                                                                         \
        int64_t n = 0;                                                                            \
        const uint64_t cap_end = now_ns() + (run)->cap_ns;                                        \
        uint64_t previous = now_ns();                                                             \
        while ((uint64_t)n < (run)->rounds) {                                                     \
            sequence++;                                                                           \
            TRIP;                                                                                 \
            const uint64_t now = now_ns();                                                        \
            if (rc != 0) return rc;                                                               \
            if (reply != sequence) return CBL_MISMATCH;                                           \
            (run)->samples[n++] = now - previous;                                                 \
            previous = now;                                                                       \
            if (now >= cap_end) break;                                                            \
        }                                                                                         \
        SEND_END;                                                                                 \
        if (rc != 0) return rc;                                                                   \
        return n;                                                                                 \
    } while (0)

/// What a stream's receiver does with each message (`receiveStream`, `receiveLarge`): counts
/// it, checks its sequence, starts the clock at `first_timed`. Returns 1 at the end message.
typedef struct {
    uint64_t expected;
    uint64_t start;
    uint64_t last;
} stream_state;

ALWAYS_INLINE int stream_receive(stream_state *s, cbl_stream_count *count, uint64_t sequence, uint64_t word1,
                                 uint64_t first_timed) {
    if (sequence == END) {
        count->sent = word1;
        return 1;
    }
    if (sequence != s->expected) count->out_of_order++;
    if (sequence == first_timed) s->start = now_ns();
    s->expected = sequence + 1;
    s->last = sequence;
    count->received++;
    return 0;
}

ALWAYS_INLINE void stream_finish(const stream_state *s, cbl_stream_count *count, uint64_t first_timed) {
    const uint64_t stop = now_ns();
    if (s->start != 0 && s->last > first_timed) {
        count->timed_messages = s->last - first_timed;
        count->timed_ns = stop - s->start;
    }
}

/// The sender's loop (`sendStream`, `sendLargeStream`): `SEND` sends `message` with sequence
/// `sequence` and sets `rc`; `message` is the caller's buffer whose first two words are the
/// sequence and (in the end message) the count.
#define RUN_STREAM(stream, message, SEND)                                                         \
    do {                                                                                          \
        int rc = 0;                                                                               \
        const uint64_t end = now_ns() + (stream)->duration_ns;                                    \
        uint64_t sequence = 0;                                                                    \
        for (;;) {                                                                                \
            sequence++;                                                                           \
            memcpy((message), &sequence, 8);                                                      \
            SEND;                                                                                 \
            if (rc != 0) return rc;                                                               \
            if ((sequence & (stream)->clock_mask) == 0 && sequence >= (stream)->minimum &&        \
                now_ns() >= end)                                                                  \
                break;                                                                            \
        }                                                                                         \
        const uint64_t end_marker = END;                                                          \
        memcpy((message), &end_marker, 8);                                                        \
        memcpy((unsigned char *)(message) + 8, &sequence, 8);                                     \
        SEND;                                                                                     \
        return rc;                                                                                \
    } while (0)

// MARK: - c-flag and c-futex

size_t cbl_words_region_size(void) { return 2 * CBL_LINE; }

int64_t cbl_flag_ping(void *region, const cbl_round_trips *run) {
    atomic_u64 *ping = region;
    atomic_u64 *pong = (atomic_u64 *)((char *)region + CBL_LINE);
    // SYNC POINT: the release store and the acquire load pair with the child's; the value is
    // the whole message, nothing else is published.
    RUN_ROUND_TRIPS(
        run,
        {
            atomic_store_explicit(ping, sequence, memory_order_release);
            while ((reply = atomic_load_explicit(pong, memory_order_acquire)) != sequence) relax();
        },
        atomic_store_explicit(ping, END, memory_order_release));
}

int cbl_flag_pong(void *region) {
    atomic_u64 *ping = region;
    atomic_u64 *pong = (atomic_u64 *)((char *)region + CBL_LINE);
    uint64_t last = 0;
    for (;;) {
        uint64_t value;
        // SYNC POINT: pairs with the parent's release store, as its acquire load with ours.
        while ((value = atomic_load_explicit(ping, memory_order_acquire)) == last) relax();
        last = value;
        if (value == END) return 0;
        atomic_store_explicit(pong, value, memory_order_release);
    }
}

// Shared (not FUTEX_PRIVATE_FLAG): the words are in a mapping of two processes.
ALWAYS_INLINE void futex_wait(atomic_u32 *word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);
}

ALWAYS_INLINE void futex_wake(atomic_u32 *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

/// Each side stores its word and wakes the other unconditionally, then sleeps on the other's
/// word until it changes; the 32-bit words carry the sequence's low half (UINT32_MAX: end).
/// Release stores and acquire loads, as for the flags: the word is the whole message. The
/// wake after the store and the kernel's re-check of the word in FUTEX_WAIT make a lost
/// wake-up impossible.
int64_t cbl_futex_ping(void *region, const cbl_round_trips *run) {
    atomic_u32 *ping = region;
    atomic_u32 *pong = (atomic_u32 *)((char *)region + CBL_LINE);
    RUN_ROUND_TRIPS(
        run,
        {
            const uint32_t v = (uint32_t)sequence;
            atomic_store_explicit(ping, v, memory_order_release);
            futex_wake(ping);
            for (;;) {
                const uint32_t seen = atomic_load_explicit(pong, memory_order_acquire);
                if (seen == v) break;
                futex_wait(pong, seen);
            }
            reply = sequence;
        },
        {
            atomic_store_explicit(ping, UINT32_MAX, memory_order_release);
            futex_wake(ping);
        });
}

int cbl_futex_pong(void *region) {
    atomic_u32 *ping = region;
    atomic_u32 *pong = (atomic_u32 *)((char *)region + CBL_LINE);
    uint32_t last = 0;
    for (;;) {
        uint32_t value;
        for (;;) {
            value = atomic_load_explicit(ping, memory_order_acquire);
            if (value != last) break;
            futex_wait(ping, value);
        }
        last = value;
        if (value == UINT32_MAX) return 0;
        atomic_store_explicit(pong, value, memory_order_release);
        futex_wake(pong);
    }
}

// MARK: - c-ring and c-ring-backoff

/// One ring: the producer's count of messages written (at 0) and the consumer's count of
/// messages read (at CBL_LINE), each on its own pair of lines; `capacity` slots from
/// 2 * CBL_LINE. Each side keeps its own count in a local and the other's last seen value
/// (cached), and reads the other's shared count only when the cached one says full / empty.
typedef struct {
    atomic_u64 *written;
    atomic_u64 *read;
    unsigned char *slots;
    uint64_t mask;
} ring;

typedef struct {
    ring r;
    uint64_t written;
    uint64_t cached_read;
} ring_producer;

typedef struct {
    ring r;
    uint64_t read;
    uint64_t cached_written;
} ring_consumer;

size_t cbl_ring_size(size_t capacity, size_t slot_size) { return 2 * CBL_LINE + capacity * slot_size; }

ALWAYS_INLINE ring ring_at(void *region, size_t capacity) {
    ring r = {
        .written = region,
        .read = (atomic_u64 *)((char *)region + CBL_LINE),
        .slots = (unsigned char *)region + 2 * CBL_LINE,
        .mask = capacity - 1,
    };
    return r;
}

ALWAYS_INLINE int valid_capacity(size_t capacity) { return capacity > 0 && (capacity & (capacity - 1)) == 0; }

/// The next free slot, waiting while the ring is full.
ALWAYS_INLINE unsigned char *ring_claim(ring_producer *p, size_t slot_size, int backoff) {
    if (p->written - p->cached_read > p->r.mask) {
        // Acquire: the consumer's reads of the slot happen before we overwrite it.
        while (p->cached_read = atomic_load_explicit(p->r.read, memory_order_acquire),
               p->written - p->cached_read > p->r.mask)
            poll_wait(backoff);
    }
    return p->r.slots + (p->written & p->r.mask) * slot_size;
}

ALWAYS_INLINE void ring_publish(ring_producer *p) {
    // Release: the slot's bytes are visible before the count that hands it over.
    atomic_store_explicit(p->r.written, ++p->written, memory_order_release);
}

/// The oldest unread slot, waiting while the ring is empty.
ALWAYS_INLINE const unsigned char *ring_peek(ring_consumer *c, size_t slot_size, int backoff) {
    if (c->read == c->cached_written) {
        // Acquire: pairs with ring_publish, so the slot's bytes are those written.
        while ((c->cached_written = atomic_load_explicit(c->r.written, memory_order_acquire)) == c->read)
            poll_wait(backoff);
    }
    return c->r.slots + (c->read & c->r.mask) * slot_size;
}

ALWAYS_INLINE void ring_release(ring_consumer *c) {
    // Release: our reads of the slot happen before the producer may reuse it.
    atomic_store_explicit(c->r.read, ++c->read, memory_order_release);
}

/// The round trips' slots are 64 bytes; the value is their first 8.
#define RING_SLOT 64

int64_t cbl_ring_ping(void *out, void *in, size_t capacity, int backoff, const cbl_round_trips *run) {
    if (!valid_capacity(capacity)) return -EINVAL;
    ring_producer p = {ring_at(out, capacity), 0, 0};
    ring_consumer c = {ring_at(in, capacity), 0, 0};
    RUN_ROUND_TRIPS(
        run,
        {
            memcpy(ring_claim(&p, RING_SLOT, backoff), &sequence, 8);
            ring_publish(&p);
            memcpy(&reply, ring_peek(&c, RING_SLOT, backoff), 8);
            ring_release(&c);
        },
        {
            const uint64_t end = END;
            memcpy(ring_claim(&p, RING_SLOT, backoff), &end, 8);
            ring_publish(&p);
        });
}

int cbl_ring_pong(void *in, void *out, size_t capacity, int backoff) {
    if (!valid_capacity(capacity)) return -EINVAL;
    ring_consumer c = {ring_at(in, capacity), 0, 0};
    ring_producer p = {ring_at(out, capacity), 0, 0};
    for (;;) {
        uint64_t value;
        memcpy(&value, ring_peek(&c, RING_SLOT, backoff), 8);
        ring_release(&c);
        if (value == END) return 0;
        memcpy(ring_claim(&p, RING_SLOT, backoff), &value, 8);
        ring_publish(&p);
    }
}

ALWAYS_INLINE int ring_send(void *region, size_t capacity, size_t size, int backoff, const cbl_stream *stream,
                            unsigned char *message) {
    if (!valid_capacity(capacity)) return -EINVAL;
    ring_producer p = {ring_at(region, capacity), 0, 0};
    RUN_STREAM(stream, message, {
        memcpy(ring_claim(&p, size, backoff), message, size);
        ring_publish(&p);
    });
}

ALWAYS_INLINE int ring_receive(void *region, size_t capacity, size_t size, int backoff, uint64_t first_timed,
                               unsigned char *message, cbl_stream_count *count) {
    if (!valid_capacity(capacity)) return -EINVAL;
    ring_consumer c = {ring_at(region, capacity), 0, 0};
    stream_state s = {1, 0, 0};
    memset(count, 0, sizeof *count);
    for (;;) {
        memcpy(message, ring_peek(&c, size, backoff), size);
        ESCAPE(message);
        ring_release(&c);
        uint64_t sequence, word1;
        memcpy(&sequence, message, 8);
        memcpy(&word1, message + 8, 8);
        if (stream_receive(&s, count, sequence, word1, first_timed)) break;
    }
    stream_finish(&s, count, first_timed);
    return 0;
}

int cbl_ring_send64(void *ring, size_t capacity, int backoff, const cbl_stream *stream) {
    unsigned char message[64] __attribute__((aligned(64))) = {0};
    return ring_send(ring, capacity, 64, backoff, stream, message);
}

int cbl_ring_receive64(void *ring, size_t capacity, int backoff, uint64_t first_timed, cbl_stream_count *count) {
    unsigned char message[64] __attribute__((aligned(64))) = {0};
    return ring_receive(ring, capacity, 64, backoff, first_timed, message, count);
}

uint64_t cbl_ring_loop64(void *region, size_t capacity, uint64_t count) {
    if (!valid_capacity(capacity)) return 0;
    ring_producer p = {ring_at(region, capacity), 0, 0};
    ring_consumer c = {ring_at(region, capacity), 0, 0};
    unsigned char message[64] __attribute__((aligned(64))) = {0};
    unsigned char received[64] __attribute__((aligned(64)));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < count; i++) {
        memcpy(message, &i, 8);
        memcpy(ring_claim(&p, 64, 0), message, 64);
        ring_publish(&p);
        memcpy(received, ring_peek(&c, 64, 0), 64);
        ring_release(&c);
        uint64_t sequence;
        memcpy(&sequence, received, 8);
        sum += sequence;
    }
    return sum;
}

int cbl_ring_send_large(void *ring, size_t capacity, size_t size, int backoff, const cbl_stream *stream,
                        void *buffer) {
    return ring_send(ring, capacity, size, backoff, stream, buffer);
}

int cbl_ring_receive_large(void *ring, size_t capacity, size_t size, int backoff, uint64_t first_timed,
                           void *buffer, cbl_stream_count *count) {
    return ring_receive(ring, capacity, size, backoff, first_timed, buffer, count);
}

// MARK: - c-mutex

/// A bounded buffer: the counts of messages put and taken, changed only under `mutex`;
/// `not_empty` is signalled after a put, `not_full` after a take (after unlocking, so the woken
/// side does not find the mutex still held). The slots start at BUFFER_HEADER.
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    uint64_t put;
    uint64_t taken;
} buffer_header;

#define BUFFER_HEADER 256
_Static_assert(sizeof(buffer_header) <= BUFFER_HEADER, "the buffer's header fits before its slots");

size_t cbl_buffer_size(size_t capacity, size_t slot_size) { return BUFFER_HEADER + capacity * slot_size; }

int cbl_buffer_init(void *region) {
    buffer_header *h = region;
    pthread_mutexattr_t mutex_attributes;
    pthread_condattr_t condition_attributes;
    int rc = pthread_mutexattr_init(&mutex_attributes);
    if (rc != 0) return -rc;
    if ((rc = pthread_mutexattr_setpshared(&mutex_attributes, PTHREAD_PROCESS_SHARED)) == 0 &&
        (rc = pthread_mutexattr_setrobust(&mutex_attributes, PTHREAD_MUTEX_ROBUST)) == 0)
        rc = pthread_mutex_init(&h->mutex, &mutex_attributes);
    pthread_mutexattr_destroy(&mutex_attributes);
    if (rc != 0) return -rc;
    if ((rc = pthread_condattr_init(&condition_attributes)) != 0) return -rc;
    if ((rc = pthread_condattr_setpshared(&condition_attributes, PTHREAD_PROCESS_SHARED)) == 0 &&
        (rc = pthread_cond_init(&h->not_empty, &condition_attributes)) == 0)
        rc = pthread_cond_init(&h->not_full, &condition_attributes);
    pthread_condattr_destroy(&condition_attributes);
    h->put = 0;
    h->taken = 0;
    return -rc;
}

/// Copies `size` bytes from `message` into the next slot, waiting while the buffer is full.
/// A robust mutex whose owner died (EOWNERDEAD) is a failure: the other side is gone.
ALWAYS_INLINE int buffer_put(void *region, size_t capacity, size_t size, const void *message) {
    buffer_header *h = region;
    int rc = pthread_mutex_lock(&h->mutex);
    if (rc != 0) return -rc;
    while (h->put - h->taken >= capacity) {
        if ((rc = pthread_cond_wait(&h->not_full, &h->mutex)) != 0) return -rc;
    }
    memcpy((unsigned char *)region + BUFFER_HEADER + (h->put % capacity) * size, message, size);
    h->put++;
    if ((rc = pthread_mutex_unlock(&h->mutex)) != 0) return -rc;
    return -pthread_cond_signal(&h->not_empty);
}

/// Copies the oldest slot out into `message`, waiting while the buffer is empty.
ALWAYS_INLINE int buffer_take(void *region, size_t capacity, size_t size, void *message) {
    buffer_header *h = region;
    int rc = pthread_mutex_lock(&h->mutex);
    if (rc != 0) return -rc;
    while (h->put == h->taken) {
        if ((rc = pthread_cond_wait(&h->not_empty, &h->mutex)) != 0) return -rc;
    }
    memcpy(message, (unsigned char *)region + BUFFER_HEADER + (h->taken % capacity) * size, size);
    ESCAPE(message);
    h->taken++;
    if ((rc = pthread_mutex_unlock(&h->mutex)) != 0) return -rc;
    return -pthread_cond_signal(&h->not_full);
}

int64_t cbl_buffer_ping(void *out, void *in, size_t capacity, const cbl_round_trips *run) {
    if (capacity == 0) return -EINVAL;
    RUN_ROUND_TRIPS(
        run,
        {
            rc = buffer_put(out, capacity, 8, &sequence);
            if (rc == 0) rc = buffer_take(in, capacity, 8, &reply);
        },
        {
            const uint64_t end = END;
            rc = buffer_put(out, capacity, 8, &end);
        });
}

int cbl_buffer_pong(void *in, void *out, size_t capacity) {
    if (capacity == 0) return -EINVAL;
    for (;;) {
        uint64_t value;
        int rc = buffer_take(in, capacity, 8, &value);
        if (rc != 0) return rc;
        if (value == END) return 0;
        if ((rc = buffer_put(out, capacity, 8, &value)) != 0) return rc;
    }
}

uint64_t cbl_buffer_loop64(void *region, size_t capacity, uint64_t count) {
    unsigned char message[64] __attribute__((aligned(64))) = {0};
    unsigned char received[64] __attribute__((aligned(64)));
    uint64_t sum = 0;
    for (uint64_t i = 0; i < count; i++) {
        memcpy(message, &i, 8);
        if (buffer_put(region, capacity, 64, message) != 0) return 0;
        if (buffer_take(region, capacity, 64, received) != 0) return 0;
        uint64_t sequence;
        memcpy(&sequence, received, 8);
        sum += sequence;
    }
    return sum;
}

int cbl_buffer_send(void *region, size_t capacity, size_t size, const cbl_stream *stream, void *buffer) {
    if (capacity == 0 || size < 16) return -EINVAL;
    RUN_STREAM(stream, buffer, rc = buffer_put(region, capacity, size, buffer));
}

int cbl_buffer_receive(void *region, size_t capacity, size_t size, uint64_t first_timed, void *buffer,
                       cbl_stream_count *count) {
    if (capacity == 0 || size < 16) return -EINVAL;
    stream_state s = {1, 0, 0};
    memset(count, 0, sizeof *count);
    for (;;) {
        int rc = buffer_take(region, capacity, size, buffer);
        if (rc != 0) return rc;
        uint64_t sequence, word1;
        memcpy(&sequence, buffer, 8);
        memcpy(&word1, (unsigned char *)buffer + 8, 8);
        if (stream_receive(&s, count, sequence, word1, first_timed)) break;
    }
    stream_finish(&s, count, first_timed);
    return 0;
}
