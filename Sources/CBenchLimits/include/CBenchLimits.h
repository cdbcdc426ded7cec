#ifndef CBENCHLIMITS_H
#define CBENCHLIMITS_H

// The limit rows of `shm bench` (c-flag, c-ring, c-ring-backoff, c-futex, c-mutex): each
// side of each workload as one C function over a region of shared memory the Swift harness
// maps, with the harness's method (warm-up, cap, one clock read per reply, the same stream
// loops and end message). Not part of the library, not a product.
//
// Every function returns 0 (or a sample count) on success and a negative value on failure:
// CBL_MISMATCH when a reply or message is not the one sent, -errno for a failed pthread call.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A reply that is not the value sent.
#define CBL_MISMATCH (-1000)

/// The distance between the words two processes write: two 64-byte lines, so neither the
/// lines nor the adjacent-line prefetcher's pairs are shared.
#define CBL_LINE 128

/// What the receiver of a stream counted: the fields of the harness's `StreamCount`.
typedef struct {
    uint64_t sent;
    uint64_t received;
    uint64_t out_of_order;
    uint64_t timed_messages;
    uint64_t timed_ns;
} cbl_stream_count;

/// A run of round trips: `warmup` untimed ones (stopped after `cap_ns`), then up to `rounds`
/// timed ones into `samples` (stopped after `cap_ns`); sample i = t(i) - t(i-1).
typedef struct {
    uint64_t warmup;
    uint64_t rounds;
    uint64_t cap_ns;
    uint64_t *samples;
} cbl_round_trips;

/// A stream's sender: messages 1, 2, 3, … for `duration_ns` and at least `minimum`, then the
/// end message (sequence UINT64_MAX, second word the count sent). The clock is read after
/// message n when `n & clock_mask == 0` (1023 for 64-byte streams, 0 for 1 MiB ones).
typedef struct {
    uint64_t duration_ns;
    uint64_t minimum;
    uint64_t clock_mask;
} cbl_stream;

// MARK: - c-flag and c-futex: two words CBL_LINE bytes apart (ping at 0, pong at CBL_LINE)

/// The bytes of a flag or futex region.
size_t cbl_words_region_size(void);

/// Atomic flags, PAUSE between polls. Returns the number of samples written, or < 0.
int64_t cbl_flag_ping(void *region, const cbl_round_trips *run);
int cbl_flag_pong(void *region);

/// Futex ping-pong: store, wake, sleep on the other word until it changes.
int64_t cbl_futex_ping(void *region, const cbl_round_trips *run);
int cbl_futex_pong(void *region);

// MARK: - c-ring and c-ring-backoff: an SPSC ring with cached indices

/// The bytes of one ring of `capacity` (a power of two) slots of `slot_size` bytes: the
/// producer's index at 0, the consumer's at CBL_LINE, the slots from 2 * CBL_LINE.
size_t cbl_ring_size(size_t capacity, size_t slot_size);

/// Round trips over two rings of 64-byte slots (`out` parent to child, `in` child to
/// parent); `backoff` nonzero: 16 PAUSEs between empty polls instead of one.
int64_t cbl_ring_ping(void *out, void *in, size_t capacity, int backoff, const cbl_round_trips *run);
int cbl_ring_pong(void *in, void *out, size_t capacity, int backoff);

/// A stream of 64-byte messages over one ring of 64-byte slots.
int cbl_ring_send64(void *ring, size_t capacity, int backoff, const cbl_stream *stream);
int cbl_ring_receive64(void *ring, size_t capacity, int backoff, uint64_t first_timed, cbl_stream_count *count);

/// One thread sends a 64-byte message over the ring and receives it, `count` times (the ring is
/// never full or empty when a side looks, so nothing waits): the ring's work per message alone,
/// for instruction counts. Returns the sum of the sequences received.
uint64_t cbl_ring_loop64(void *ring, size_t capacity, uint64_t count);

/// A stream of `size`-byte messages over one ring of `size`-byte slots, copied from and to
/// `buffer` (the caller's pre-faulted buffer of `size` bytes).
int cbl_ring_send_large(
    void *ring, size_t capacity, size_t size, int backoff, const cbl_stream *stream, void *buffer);
int cbl_ring_receive_large(
    void *ring, size_t capacity, size_t size, int backoff, uint64_t first_timed, void *buffer,
    cbl_stream_count *count);

// MARK: - c-mutex: a bounded buffer under a robust process-shared pthread mutex and two
// process-shared condition variables (not empty, not full)

/// The bytes of one bounded buffer of `capacity` slots of `slot_size` bytes.
size_t cbl_buffer_size(size_t capacity, size_t slot_size);
/// Initialises the mutex, the conditions and the counts: once, before the other side opens.
int cbl_buffer_init(void *buffer);

/// Round trips of 8-byte values over two buffers (`out` parent to child, `in` back).
int64_t cbl_buffer_ping(void *out, void *in, size_t capacity, const cbl_round_trips *run);
int cbl_buffer_pong(void *in, void *out, size_t capacity);

/// One thread puts a 64-byte message into the buffer (of 64-byte slots, initialised) and takes
/// it, `count` times (nothing waits): the buffer's work per message alone, for instruction
/// counts. Returns the sum of the sequences taken, 0 on a failed pthread call.
uint64_t cbl_buffer_loop64(void *region, size_t capacity, uint64_t count);

/// A stream of `size`-byte messages (the sequence in the first 8 bytes) from and to `buffer`.
int cbl_buffer_send(void *ring, size_t capacity, size_t size, const cbl_stream *stream, void *buffer);
int cbl_buffer_receive(
    void *ring, size_t capacity, size_t size, uint64_t first_timed, void *buffer, cbl_stream_count *count);

#ifdef __cplusplus
}
#endif

#endif
