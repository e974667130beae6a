/*
 * ring.c - bounded lock-free MPSC byte ring (see ring.h for the contract and
 * docs/ring-buffer.md for the design argument).
 *
 * Threads: producers (signal handlers, JVMTI callbacks, any thread, any
 * number at once, reentrantly on one thread) call pyr_ring_reserve(),
 * pyr_ring_commit() and pyr_ring_cancel(); exactly one consumer thread at a
 * time calls pyr_ring_peek() and pyr_ring_release(); pyr_ring_get_stats() is
 * callable from anywhere.  init/destroy run with no producer or consumer.
 *
 * Layout: head and tail are free-running 64-bit byte positions; the byte at
 * position p lives at data[p & mask].  Every record starts with one 8-byte
 * header word at an 8-aligned position and never crosses the end of the
 * buffer:
 *
 *     bits 63..32  len    payload bytes as passed to reserve (pads: body size)
 *     bits 31..0   state  0 = not committed, or one of HDR_* below
 *
 * followed by the payload rounded up to 8 bytes.  A record that would cross
 * the end is preceded, in the same tail CAS, by a pad record covering the
 * rest of the buffer; the record itself then starts at offset 0.
 *
 * Invariants:
 *  - every byte in [tail, head + capacity) (i.e. everything not reserved) is
 *    zero: mmap gives zeroed memory and the consumer zeroes each record
 *    before it moves head past it.  So a header word at an unpublished
 *    position always reads state 0, never a stale committed header or a
 *    stale payload word that happens to look like one;
 *  - only the producer that reserved a region writes it until it publishes
 *    the header state (release); after that only the consumer touches it;
 *  - head is written only by the consumer; tail only by successful CASes,
 *    so both increase monotonically and head <= tail <= head + capacity.
 *
 * Signal safety: reserve/commit/cancel/peek/release/get_stats use only
 * atomics on the preallocated buffer (release() calls memset, which is
 * async-signal-safe and on the check-sigsafe.sh allow-list).  No locks, no
 * allocation, no waiting on another thread: reserve's only loop is the CAS
 * retry, which fails only when another producer made progress.
 */
#include "ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

/* Header states (low 32 bits of the header word).  0 must mean "not
 * committed" because that is what zeroed memory reads as. */
#define HDR_EMPTY 0u
#define HDR_COMMITTED 1u /* a record for the consumer */
#define HDR_SKIP 2u      /* padding or a cancelled record: consumer skips */

#define HDR_SIZE 8u
#define MIN_CAPACITY 4096u

/* Payload length rounded up to the record alignment, in 64 bits so that
 * len == UINT32_MAX cannot overflow. */
static inline uint64_t ring_round(uint64_t len) {
  return (len + (PYR_RING_ALIGN - 1)) & ~(uint64_t)(PYR_RING_ALIGN - 1);
}

static inline uint64_t hdr_make(uint64_t len, uint32_t state) {
  return (len << 32) | state;
}
static inline uint32_t hdr_len(uint64_t h) { return (uint32_t)(h >> 32); }
static inline uint32_t hdr_state(uint64_t h) { return (uint32_t)h; }

/* The header word of the record at buffer offset off (8-aligned, and the
 * buffer is page-aligned, so the 64-bit atomic is naturally aligned and
 * lock-free on every target we build for). */
static inline _Atomic uint64_t *hdr_at(const pyr_ring *r, uint64_t off) {
  return (_Atomic uint64_t *)(void *)(r->data + off);
}

int pyr_ring_init(pyr_ring *r, size_t capacity) {
  if (r == NULL) return -EINVAL;
  uint64_t cap = MIN_CAPACITY;
  /* Largest power of two a size_t and a uint64_t can both hold. */
  const uint64_t max_cap = (uint64_t)1 << (sizeof(size_t) * 8 - 2);
  if ((uint64_t)capacity > max_cap) return -ENOMEM;
  while (cap < (uint64_t)capacity) cap <<= 1;

  /* MAP_POPULATE pre-faults the pages so the first sample written into a
   * page from a signal handler does not take a page fault (latency inside
   * the handler); anonymous memory is zero-filled, which the "unreserved
   * bytes are zero" invariant relies on. */
  void *p = mmap(NULL, (size_t)cap, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return errno ? -errno : -ENOMEM;

  r->data = p;
  r->capacity = cap;
  r->mask = cap - 1;
  /* No other thread can see r yet; plain initialisation. */
  atomic_init(&r->tail, 0);
  atomic_init(&r->head, 0);
  atomic_init(&r->records, 0);
  atomic_init(&r->dropped, 0);
  atomic_init(&r->dropped_bytes, 0);
  atomic_init(&r->high_water, 0);
  return 0;
}

void pyr_ring_destroy(pyr_ring *r) {
  if (r == NULL || r->data == NULL) return;
  munmap(r->data, (size_t)r->capacity);
  r->data = NULL;
  r->capacity = 0;
  r->mask = 0;
}

/* Counts a record that was not stored.  Relaxed: these are statistics, read
 * by nobody that needs them ordered against ring contents. */
static void ring_drop(pyr_ring *r, uint32_t len) {
  atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->dropped_bytes, len, memory_order_relaxed);
}

/* CAS-max on high_water.  Relaxed: a statistic.  The first load lets the
 * common case (no new maximum) avoid the atomic RMW entirely; the loop only
 * retries while another producer raised the value but not past ours. */
static void ring_note_used(pyr_ring *r, uint64_t used) {
  uint64_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);
  while (used > hw &&
         !atomic_compare_exchange_weak_explicit(&r->high_water, &hw, used,
                                                memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

void *pyr_ring_reserve(pyr_ring *r, uint32_t len) {
  const uint64_t cap = r->capacity;
  if ((uint64_t)len > PYR_RING_MAX_RECORD(r)) {
    ring_drop(r, len);
    return NULL;
  }
  const uint64_t need = HDR_SIZE + ring_round(len);

  uint64_t t, off, total;
  for (;;) {
    /* head first, with acquire, for two reasons:
     *  (1) it synchronises with the consumer's release store of head, so the
     *      consumer's zeroing of every byte below head happens-before our
     *      writes into the region we are about to claim (no data race, and
     *      the consumer can never read its own stale zero "after" our data);
     *  (2) tail is loaded after it.  The consumer moved head to h only after
     *      acquiring the commit of a record whose producer had already CASed
     *      tail to >= h, so by coherence the tail we read next is >= h and
     *      t - h below cannot underflow.  (Reading tail first could give a
     *      value older than h and a bogus "full".)
     * tail itself is relaxed: producers use it only to partition space;
     * nothing is published through it (publication is the header's job). */
    const uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    off = t & r->mask;
    const uint64_t to_end = cap - off; /* >= 8: off is 8-aligned, < cap */
    /* If the record does not fit before the end, claim a pad up to the end
     * plus the record at offset 0 in one step, so no other producer can
     * slip in between and the consumer sees pad, then record. */
    total = need <= to_end ? need : to_end + need;

    if (t - h + total > cap) {
      ring_drop(r, len);
      return NULL;
    }
    /* Relaxed CAS: success only hands us [t, t + total); the memory in it is
     * already ordered by the head acquire above.  On failure another
     * producer advanced tail: recompute from fresh values.  weak is fine as
     * we loop anyway. */
    if (atomic_compare_exchange_weak_explicit(&r->tail, &t, t + total,
                                              memory_order_relaxed,
                                              memory_order_relaxed)) {
      ring_note_used(r, t - h + total);
      break;
    }
  }

  if (total != need) {
    /* Pad covering [off, cap).  Published at once (release, so that the
     * consumer's read of its length is ordered, although the length is in
     * the same word) and skipped by the consumer.  Its body is already zero
     * by the invariant; we do not touch it. */
    atomic_store_explicit(hdr_at(r, off), hdr_make(cap - off - HDR_SIZE, HDR_SKIP),
                          memory_order_release);
    off = 0;
  }
  /* Record the length with state 0 (still invisible).  Relaxed: only this
   * producer reads it back (in commit); the consumer ignores the word until
   * the release store in commit publishes it together with the payload. */
  atomic_store_explicit(hdr_at(r, off), hdr_make(len, HDR_EMPTY), memory_order_relaxed);
  return r->data + off + HDR_SIZE;
}

/* Publishes the record whose payload starts at payload with a new state. */
static void ring_publish(pyr_ring *r, void *payload, uint32_t state) {
  const uint64_t off = (uint64_t)((uint8_t *)payload - r->data) - HDR_SIZE;
  _Atomic uint64_t *hp = hdr_at(r, off);
  /* Relaxed load: we wrote this word ourselves in reserve (sequenced before,
   * and no other thread writes it while it is unpublished). */
  const uint64_t hv = atomic_load_explicit(hp, memory_order_relaxed);
  /* Release: every payload write the producer made before this call
   * happens-before the consumer's acquire load that sees the new state, so
   * the consumer reads the complete payload.  A plain store (not an RMW) is
   * enough because nobody else writes the word until then. */
  atomic_store_explicit(hp, hdr_make(hdr_len(hv), state), memory_order_release);
}

void pyr_ring_commit(pyr_ring *r, void *payload) {
  if (payload == NULL) return; /* lets callers commit a failed reserve */
  ring_publish(r, payload, HDR_COMMITTED);
  /* Relaxed: a statistic; ordering against the data is not needed. */
  atomic_fetch_add_explicit(&r->records, 1, memory_order_relaxed);
}

void pyr_ring_cancel(pyr_ring *r, void *payload) {
  if (payload == NULL) return;
  /* Same publication as commit (the consumer must still be able to move
   * past the space, and must zero what we wrote), but marked to be skipped. */
  ring_publish(r, payload, HDR_SKIP);
}

/* Consumer: zeroes the record at head (8 + body bytes) and advances head
 * past it.  Caller has acquired the header word hv. */
static void ring_consume(pyr_ring *r, uint64_t head, uint64_t off, uint64_t hv) {
  const uint64_t body = ring_round(hdr_len(hv));
  /* Restore the "unreserved bytes are zero" invariant.  The header goes
   * through an atomic store because producers and the consumer access
   * header words atomically; relaxed suffices because the head release store
   * below orders both stores before any producer's reuse of this memory. */
  if (body) memset(r->data + off + HDR_SIZE, 0, (size_t)body);
  atomic_store_explicit(hdr_at(r, off), 0, memory_order_relaxed);
  /* Release: the zeroing above (and our reads of the payload) happen-before
   * a producer that acquires this head value and writes into the space. */
  atomic_store_explicit(&r->head, head + HDR_SIZE + body, memory_order_release);
}

const void *pyr_ring_peek(pyr_ring *r, uint32_t *len) {
  for (;;) {
    /* Relaxed: only this (consumer) thread writes head. */
    const uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    const uint64_t off = head & r->mask;
    /* Acquire pairs with the producer's release in commit/cancel/reserve
     * (pads): if we see a published state we see the payload it covers.
     * We never need tail: an unreserved or unpublished header reads state 0
     * (invariant), so "empty" and "oldest record not yet committed" both
     * end here, and the consumer never skips an uncommitted record. */
    const uint64_t hv = atomic_load_explicit(hdr_at(r, off), memory_order_acquire);
    const uint32_t state = hdr_state(hv);
    if (state == HDR_EMPTY) return NULL;
    if (state == HDR_COMMITTED) {
      if (len) *len = hdr_len(hv);
      return r->data + off + HDR_SIZE;
    }
    /* HDR_SKIP: pad or cancelled record; drop it and look again.  The loop
     * is bounded: each pass consumes published space. */
    ring_consume(r, head, off, hv);
  }
}

void pyr_ring_release(pyr_ring *r) {
  const uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  const uint64_t off = head & r->mask;
  /* Acquire again rather than trusting an earlier peek, so a release()
   * without a successful peek is harmless: it does nothing unless the
   * record at head is actually committed. */
  const uint64_t hv = atomic_load_explicit(hdr_at(r, off), memory_order_acquire);
  if (hdr_state(hv) != HDR_COMMITTED) return;
  ring_consume(r, head, off, hv);
}

void pyr_ring_get_stats(pyr_ring *r, pyr_ring_stats *out) {
  out->capacity = r->capacity;
  /* head (acquire) before tail, for the same reason as in reserve: the tail
   * we then read is >= head, so used cannot underflow. */
  const uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  const uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  out->used = t >= h ? t - h : 0;
  out->records = atomic_load_explicit(&r->records, memory_order_relaxed);
  out->dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
  out->dropped_bytes = atomic_load_explicit(&r->dropped_bytes, memory_order_relaxed);
  out->high_water = atomic_load_explicit(&r->high_water, memory_order_relaxed);
}
