/*
 * ring.h - bounded, lock-free, multi-producer / single-consumer byte ring.
 *
 * Producers are signal handlers (CPU and wall-clock samples) and JVMTI
 * callbacks (allocation, lock events); the single consumer is the agent's
 * aggregator thread.  Records are variable-length and 8-byte aligned.
 *
 * Threads: any number of producers call pyr_ring_reserve()/pyr_ring_commit()
 * concurrently, from signal context included; exactly one thread at a time
 * calls pyr_ring_peek()/pyr_ring_release().
 *
 * Invariants:
 *  - capacity is a power of two chosen at pyr_ring_init() and never grows;
 *  - 0 <= tail - head <= capacity at all times;
 *  - producers never wait: when a record does not fit, reserve returns NULL
 *    and the drop is counted (dropped, dropped_bytes);
 *  - a record is invisible to the consumer until its producer commits it;
 *    the consumer stops at the first uncommitted record (records are
 *    consumed strictly in reservation order);
 *  - memory is obtained with mmap at init and never freed while a signal
 *    could still touch it (pyr_ring_destroy is for tests only).
 *
 * Everything here except init/destroy is async-signal-safe: atomics on
 * preallocated memory only, no libc calls.
 */
#ifndef PYRITE_SIGNAL_RING_H
#define PYRITE_SIGNAL_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PYR_RING_ALIGN 8u
/* Largest payload a single record may carry (header excluded). */
#define PYR_RING_MAX_RECORD(r) ((r)->capacity / 4)

typedef struct pyr_ring {
  uint8_t *data;
  uint64_t capacity; /* bytes, power of two */
  uint64_t mask;
  _Alignas(64) _Atomic uint64_t tail; /* next byte producers reserve */
  _Alignas(64) _Atomic uint64_t head; /* next byte the consumer reads */
  _Alignas(64) _Atomic uint64_t records;       /* committed records */
  _Atomic uint64_t dropped;       /* records that did not fit */
  _Atomic uint64_t dropped_bytes; /* their payload bytes */
  _Atomic uint64_t high_water;    /* max bytes in use ever observed */
} pyr_ring;

typedef struct pyr_ring_stats {
  uint64_t capacity, used, records, dropped, dropped_bytes, high_water;
} pyr_ring_stats;

/* Allocates capacity bytes (rounded up to a power of two, min 4 KiB).
 * Returns 0 or -errno. Not signal-safe. */
int pyr_ring_init(pyr_ring *r, size_t capacity);
/* Unmaps the storage. Only for tests and never while producers run. */
void pyr_ring_destroy(pyr_ring *r);

/* Reserves len payload bytes. Returns a pointer to write them to, or NULL
 * (counted as a drop) when the ring is full or len is too large.  len == 0
 * is a valid header-only record: the pointer is non-NULL (pass it to commit)
 * but must not be dereferenced. */
void *pyr_ring_reserve(pyr_ring *r, uint32_t len);
/* Publishes a record returned by pyr_ring_reserve (NULL: no-op).  Every
 * successful reserve must be followed by exactly one commit or cancel: the
 * consumer stops at the oldest unpublished record. */
void pyr_ring_commit(pyr_ring *r, void *payload);
/* Abandons a reserved record (NULL: no-op): the space is published as
 * padding, the consumer skips it, and it counts neither in records nor in
 * dropped.  For a producer that cannot complete a record after reserving. */
void pyr_ring_cancel(pyr_ring *r, void *payload);

/* Consumer: the oldest committed record, or NULL if none is ready.
 * *len receives the payload length as passed to reserve. */
const void *pyr_ring_peek(pyr_ring *r, uint32_t *len);
/* Consumer: frees the record returned by the last pyr_ring_peek. */
void pyr_ring_release(pyr_ring *r);

void pyr_ring_get_stats(pyr_ring *r, pyr_ring_stats *out);

#endif
