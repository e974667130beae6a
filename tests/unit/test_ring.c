/*
 * test_ring.c - unit and stress tests for the MPSC byte ring
 * (agent/signal/ring.c).
 *
 * Threads: the cmocka test bodies and every consumer run on the main thread;
 * the stress tests start producer pthreads, which never call cmocka asserts
 * (cmocka is not thread-safe) and only report counts and bitmaps that the
 * main thread checks after joining them.
 *
 * Nothing here asserts on timing: the stress tests check exact accounting
 * (every record either received intact or counted as dropped, never both,
 * never neither), whatever the scheduling.
 *
 * Some tests check the documented layout (8-byte header, 8-aligned records,
 * pad to the end then offset 0) and the "unreserved memory is zero"
 * invariant through the public struct fields, on purpose: those are what
 * make the ring correct.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define HDR 8u

static uint64_t round8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* xorshift64*: deterministic, per-thread, no shared state. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Payload bytes are a function of (seed, index): a record checked against
 * it detects torn, stale or misplaced data. */
static uint8_t pat_byte(uint64_t seed, uint32_t i) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL;
  return (uint8_t)(x >> 56) ^ (uint8_t)i;
}
static void pat_fill(uint8_t *p, uint32_t len, uint64_t seed) {
  for (uint32_t i = 0; i < len; i++) p[i] = pat_byte(seed, i);
}
static int pat_ok(const uint8_t *p, uint32_t len, uint64_t seed) {
  for (uint32_t i = 0; i < len; i++)
    if (p[i] != pat_byte(seed, i)) return 0;
  return 1;
}

static int buffer_all_zero(const pyr_ring *r) {
  for (uint64_t i = 0; i < r->capacity; i++)
    if (r->data[i] != 0) return 0;
  return 1;
}

static uint64_t head_of(pyr_ring *r) { return atomic_load(&r->head); }
static uint64_t tail_of(pyr_ring *r) { return atomic_load(&r->tail); }

/* ------------------------------------------------------------------ */

static void test_init_rounding(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 0), 0);
  assert_int_equal(r.capacity, 4096);
  assert_int_equal(r.mask, 4095);
  assert_true(buffer_all_zero(&r));
  pyr_ring_destroy(&r);
  assert_null(r.data);
  assert_int_equal(pyr_ring_init(&r, 5000), 0);
  assert_int_equal(r.capacity, 8192);
  pyr_ring_destroy(&r);
  assert_int_equal(pyr_ring_init(&r, 65536), 0);
  assert_int_equal(r.capacity, 65536);
  pyr_ring_destroy(&r);
  assert_true(pyr_ring_init(&r, SIZE_MAX) < 0);
}

static void test_empty(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  uint32_t len = 12345;
  assert_null(pyr_ring_peek(&r, &len));
  assert_int_equal(len, 12345); /* untouched when nothing is returned */
  pyr_ring_release(&r);         /* no record: must be a no-op */
  assert_int_equal(head_of(&r), 0);
  assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.capacity, 4096);
  assert_int_equal(st.used, 0);
  assert_int_equal(st.records, 0);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.dropped_bytes, 0);
  assert_int_equal(st.high_water, 0);
  pyr_ring_commit(&r, NULL); /* committing a failed reserve is harmless */
  pyr_ring_cancel(&r, NULL);
  assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_destroy(&r);
}

static void test_single_roundtrip(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  uint8_t *p = pyr_ring_reserve(&r, 37);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % 8, 0);
  assert_ptr_equal(p, r.data + HDR);
  pat_fill(p, 37, 1);
  /* Reserved but not committed: invisible. */
  assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_commit(&r, p);

  uint32_t len = 0;
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, p);
  assert_int_equal(len, 37);
  assert_true(pat_ok(q, len, 1));
  /* peek is idempotent until release. */
  assert_ptr_equal(pyr_ring_peek(&r, &len), p);

  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.used, HDR + 40);
  assert_int_equal(st.records, 1);
  assert_int_equal(st.high_water, HDR + 40);

  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));
  assert_int_equal(head_of(&r), HDR + 40);
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.used, 0);
  assert_int_equal(st.high_water, HDR + 40);
  assert_true(buffer_all_zero(&r)); /* consumed bytes are zeroed */
  pyr_ring_destroy(&r);
}

static void test_zero_length(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  void *a = pyr_ring_reserve(&r, 0);
  assert_non_null(a);
  uint8_t *b = pyr_ring_reserve(&r, 8);
  assert_non_null(b);
  assert_ptr_equal(b, (uint8_t *)a + HDR); /* a zero-length record is 8 bytes */
  pat_fill(b, 8, 2);
  pyr_ring_commit(&r, a);
  pyr_ring_commit(&r, b);
  uint32_t len = 99;
  assert_ptr_equal(pyr_ring_peek(&r, &len), a);
  assert_int_equal(len, 0);
  pyr_ring_release(&r);
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, b);
  assert_int_equal(len, 8);
  assert_true(pat_ok(q, 8, 2));
  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.records, 2);
  assert_int_equal(st.dropped, 0);
  pyr_ring_destroy(&r);
}

static void test_order_preserved(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 8192), 0);
  enum { N = 60 };
  for (uint32_t i = 0; i < N; i++) {
    uint32_t len = 8 + (i * 13) % 97;
    uint8_t *p = pyr_ring_reserve(&r, len);
    assert_non_null(p);
    p[0] = (uint8_t)i;
    pat_fill(p + 1, len - 1, i);
    pyr_ring_commit(&r, p);
  }
  for (uint32_t i = 0; i < N; i++) {
    uint32_t len = 0;
    const uint8_t *q = pyr_ring_peek(&r, &len);
    assert_non_null(q);
    assert_int_equal(len, 8 + (i * 13) % 97);
    assert_int_equal(q[0], (uint8_t)i);
    assert_true(pat_ok(q + 1, len - 1, i));
    pyr_ring_release(&r);
  }
  assert_null(pyr_ring_peek(&r, NULL));
  assert_true(buffer_all_zero(&r));
  pyr_ring_destroy(&r);
}

/* Independent model of where the ring must place the next record of len
 * bytes, given the reservation position pos; counts pads. */
static uint64_t model_place(uint64_t *pos, uint64_t cap, uint32_t len, uint64_t *pads) {
  uint64_t need = HDR + round8(len);
  uint64_t off = *pos & (cap - 1);
  if (need > cap - off) {
    *pos += cap - off;
    (*pads)++;
    off = 0;
  }
  *pos += need;
  return off;
}

static void test_wraparound_many(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  const uint32_t max = (uint32_t)PYR_RING_MAX_RECORD(&r);
  assert_int_equal(max, 1024);
  uint64_t rng = 42, pos = 0, pads = 0;
  uint64_t next_prod = 0, next_cons = 0;
  uint64_t lens[64]; /* lengths of records in flight, by seq % 64 */

  while (next_prod < 40000) {
    /* Produce a burst of 1..8 records, draining when full. */
    int burst = 1 + (int)(rng_next(&rng) % 8);
    for (int k = 0; k < burst; k++) {
      uint32_t len;
      uint64_t pick = rng_next(&rng) % 16;
      if (pick == 0) len = max;                          /* largest allowed */
      else if (pick == 1) len = 0;                       /* header only */
      else len = (uint32_t)(rng_next(&rng) % (max + 1)); /* anything */
      if (next_prod - next_cons >= 64) break;
      uint8_t *p = pyr_ring_reserve(&r, len);
      if (p == NULL) break; /* full: go consume */
      uint64_t off = model_place(&pos, r.capacity, len, &pads);
      assert_ptr_equal(p, r.data + off + HDR);
      assert_int_equal(tail_of(&r), pos);
      pat_fill(p, len, next_prod);
      lens[next_prod % 64] = len;
      pyr_ring_commit(&r, p);
      next_prod++;
    }
    /* Consume a random number of records, sometimes all of them. */
    int eat = (int)(rng_next(&rng) % 10);
    while (next_cons < next_prod && (eat-- > 0 || next_prod - next_cons >= 64)) {
      uint32_t len = 0;
      const uint8_t *q = pyr_ring_peek(&r, &len);
      assert_non_null(q);
      assert_int_equal(len, lens[next_cons % 64]);
      assert_true(pat_ok(q, len, next_cons));
      pyr_ring_release(&r);
      next_cons++;
    }
    if (next_cons == next_prod) {
      /* Empty: whatever the wrap history, everything must read zero. */
      assert_null(pyr_ring_peek(&r, NULL));
      assert_int_equal(head_of(&r), tail_of(&r));
    }
  }
  while (next_cons < next_prod) {
    uint32_t len = 0;
    const uint8_t *q = pyr_ring_peek(&r, &len);
    assert_non_null(q);
    assert_int_equal(len, lens[next_cons % 64]);
    assert_true(pat_ok(q, len, next_cons));
    pyr_ring_release(&r);
    next_cons++;
  }
  assert_null(pyr_ring_peek(&r, NULL));
  assert_true(buffer_all_zero(&r));
  /* The test is only meaningful if it wrapped, and padded, many times. */
  assert_true(tail_of(&r) / r.capacity > 1000);
  assert_true(pads > 1000);
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.records, next_prod);
  assert_true(st.high_water <= r.capacity);
  pyr_ring_destroy(&r);
}

/* A record that ends exactly at the end of the buffer needs no pad, and a
 * ring may be filled to exactly capacity bytes. */
static void test_exact_fit(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  uint8_t *p[32];
  for (int i = 0; i < 32; i++) {
    p[i] = pyr_ring_reserve(&r, 120); /* 128 bytes per record */
    assert_non_null(p[i]);
    assert_ptr_equal(p[i], r.data + 128 * i + HDR);
    pat_fill(p[i], 120, (uint64_t)i);
    pyr_ring_commit(&r, p[i]);
  }
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.used, 4096);
  assert_int_equal(st.high_water, 4096);
  assert_null(pyr_ring_reserve(&r, 0)); /* not even a header fits */
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.dropped_bytes, 0);

  uint32_t len;
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_true(pat_ok(q, len, 0));
  pyr_ring_release(&r);
  /* The freed space is at offset 0; tail is at 4096 == offset 0: no pad. */
  uint8_t *n = pyr_ring_reserve(&r, 120);
  assert_ptr_equal(n, r.data + HDR);
  pyr_ring_commit(&r, n);
  assert_int_equal(tail_of(&r), 4096 + 128);
  for (int i = 1; i < 32; i++) {
    q = pyr_ring_peek(&r, &len);
    assert_ptr_equal(q, p[i]);
    assert_true(pat_ok(q, len, (uint64_t)i));
    pyr_ring_release(&r);
  }
  assert_ptr_equal(pyr_ring_peek(&r, &len), n);
  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));
  assert_true(buffer_all_zero(&r));
  pyr_ring_destroy(&r);
}

static void test_overflow_accounting(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  const uint32_t len = 100; /* 112 bytes with header */
  uint64_t produced = 0, nulls = 0, null_bytes = 0;

  /* Fill from empty: exactly floor(4096 / 112) = 36 fit; the 37th would
   * need a 64-byte pad plus 112 bytes. */
  for (;;) {
    uint8_t *p = pyr_ring_reserve(&r, len);
    if (!p) {
      nulls++;
      null_bytes += len;
      break;
    }
    pat_fill(p, len, produced++);
    pyr_ring_commit(&r, p);
  }
  assert_int_equal(produced, 36);
  for (int i = 0; i < 10; i++) {
    uint32_t l = 8u * (uint32_t)i; /* 0..72: some would fit before the end */
    if (l > 64 - HDR) {
      assert_null(pyr_ring_reserve(&r, l));
      nulls++;
      null_bytes += l;
    }
  }
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.records, 36);
  assert_int_equal(st.used, 36 * 112);
  assert_int_equal(st.high_water, 36 * 112);
  assert_int_equal(st.dropped, nulls);
  assert_int_equal(st.dropped_bytes, null_bytes);
  assert_int_equal(st.dropped, 3); /* the 37th, and lengths 64 and 72 */

  /* A small record still fits in the 64 bytes left before the end. */
  uint8_t *s = pyr_ring_reserve(&r, 56);
  assert_ptr_equal(s, r.data + 36 * 112 + HDR);
  pat_fill(s, 56, produced++);
  pyr_ring_commit(&r, s);
  assert_null(pyr_ring_reserve(&r, 0)); /* now exactly full */
  nulls++;

  /* Drain and verify. */
  uint64_t consumed = 0;
  uint32_t l;
  const uint8_t *q;
  while ((q = pyr_ring_peek(&r, &l)) != NULL) {
    assert_int_equal(l, consumed == 36 ? 56 : len);
    assert_true(pat_ok(q, l, consumed));
    pyr_ring_release(&r);
    consumed++;
  }
  assert_int_equal(consumed, produced);
  assert_true(buffer_all_zero(&r));

  /* Reuse: the first record wraps to offset 0 with no pad (tail is at
   * 4096), then the ring fills exactly as from empty. */
  uint64_t again = 0;
  for (;;) {
    uint8_t *p = pyr_ring_reserve(&r, len);
    if (!p) {
      nulls++;
      null_bytes += len;
      break;
    }
    if (again == 0) assert_ptr_equal(p, r.data + HDR);
    pat_fill(p, len, 1000 + again++);
    pyr_ring_commit(&r, p);
  }
  assert_int_equal(again, 36);
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.dropped, nulls);
  assert_int_equal(st.dropped_bytes, null_bytes);
  assert_int_equal(st.records, produced + again);
  for (uint64_t i = 0; i < again; i++) {
    q = pyr_ring_peek(&r, &l);
    assert_non_null(q);
    assert_true(pat_ok(q, l, 1000 + i));
    pyr_ring_release(&r);
  }
  assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_destroy(&r);
}

static void test_too_large(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  const uint32_t max = (uint32_t)PYR_RING_MAX_RECORD(&r);
  assert_null(pyr_ring_reserve(&r, max + 1));
  assert_null(pyr_ring_reserve(&r, UINT32_MAX));
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.dropped, 2);
  assert_int_equal(st.dropped_bytes, (uint64_t)max + 1 + UINT32_MAX);
  assert_int_equal(st.used, 0);
  assert_int_equal(st.high_water, 0);
  /* max itself is accepted. */
  uint8_t *p = pyr_ring_reserve(&r, max);
  assert_non_null(p);
  pat_fill(p, max, 7);
  pyr_ring_commit(&r, p);
  uint32_t len;
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_int_equal(len, max);
  assert_true(pat_ok(q, len, 7));
  pyr_ring_release(&r);
  pyr_ring_destroy(&r);
}

/* Moves an empty ring's head and tail to position pos (multiple of 8, no
 * record crossing the end) by producing and consuming 8-byte records. */
static void advance_empty_ring(pyr_ring *r, uint64_t pos) {
  while (tail_of(r) + 16 <= pos) {
    void *p = pyr_ring_reserve(r, 8);
    assert_non_null(p);
    pyr_ring_commit(r, p);
    assert_non_null(pyr_ring_peek(r, NULL));
    pyr_ring_release(r);
  }
  if (tail_of(r) < pos) { /* one 8-byte gap left: a zero-length record */
    void *p = pyr_ring_reserve(r, 0);
    pyr_ring_commit(r, p);
    assert_non_null(pyr_ring_peek(r, NULL));
    pyr_ring_release(r);
  }
  assert_int_equal(tail_of(r), pos);
  assert_int_equal(head_of(r), pos);
}

static void test_uncommitted_blocks_consumer(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  uint8_t *a = pyr_ring_reserve(&r, 16);
  uint8_t *b = pyr_ring_reserve(&r, 24);
  uint8_t *c = pyr_ring_reserve(&r, 32);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  pat_fill(b, 24, 'b');
  pyr_ring_commit(&r, b);
  pat_fill(c, 32, 'c');
  pyr_ring_commit(&r, c);
  /* b and c are committed, a is not: the consumer must not skip a. */
  for (int i = 0; i < 3; i++) assert_null(pyr_ring_peek(&r, NULL));
  pyr_ring_release(&r); /* without a record: no-op */
  assert_int_equal(head_of(&r), 0);
  pat_fill(a, 16, 'a');
  pyr_ring_commit(&r, a);
  uint32_t len;
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, a);
  assert_true(pat_ok(q, 16, 'a'));
  pyr_ring_release(&r);
  q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, b);
  assert_true(pat_ok(q, 24, 'b'));
  pyr_ring_release(&r);
  q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, c);
  assert_true(pat_ok(q, 32, 'c'));
  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));

  /* Same across the wrap: a sits just before the end, b's reservation pads
   * the last 16 bytes and lands at offset 0 and is committed first. */
  advance_empty_ring(&r, 2 * 4096 - 64);
  a = pyr_ring_reserve(&r, 40); /* 48 bytes: ends 16 before the end */
  assert_ptr_equal(a, r.data + 4096 - 64 + HDR);
  b = pyr_ring_reserve(&r, 100); /* needs 112 > 16: pad + offset 0 */
  assert_ptr_equal(b, r.data + HDR);
  assert_int_equal(tail_of(&r), 2 * 4096 + 112);
  pat_fill(b, 100, 'B');
  pyr_ring_commit(&r, b);
  assert_null(pyr_ring_peek(&r, NULL)); /* a still blocks, pad or not */
  pat_fill(a, 40, 'A');
  pyr_ring_commit(&r, a);
  q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, a);
  assert_true(pat_ok(q, 40, 'A'));
  pyr_ring_release(&r);
  q = pyr_ring_peek(&r, &len); /* the pad is skipped silently */
  assert_ptr_equal(q, b);
  assert_int_equal(len, 100);
  assert_true(pat_ok(q, 100, 'B'));
  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));
  assert_int_equal(head_of(&r), tail_of(&r));
  assert_true(buffer_all_zero(&r));
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.dropped, 0);
  pyr_ring_destroy(&r);
}

static void test_cancel(void **state) {
  (void)state;
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, 4096), 0);
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  uint64_t records0 = st.records;
  uint8_t *a = pyr_ring_reserve(&r, 64);
  uint8_t *b = pyr_ring_reserve(&r, 24);
  memset(a, 0xAB, 64); /* written, then abandoned */
  pat_fill(b, 24, 5);
  pyr_ring_commit(&r, b);
  assert_null(pyr_ring_peek(&r, NULL)); /* a is not published yet */
  pyr_ring_cancel(&r, a);
  uint32_t len;
  const uint8_t *q = pyr_ring_peek(&r, &len);
  assert_ptr_equal(q, b);
  assert_true(pat_ok(q, len, 5));
  pyr_ring_release(&r);
  assert_null(pyr_ring_peek(&r, NULL));
  assert_true(buffer_all_zero(&r)); /* cancelled bytes were zeroed too */
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.records - records0, 1);
  assert_int_equal(st.dropped, 0);
  pyr_ring_destroy(&r);
}

/* A signal handler producing into the ring while the interrupted code on
 * the same thread holds an uncommitted reservation: the handler must not
 * wait, and the consumer must still see the interrupted record first. */
static pyr_ring sig_ring;
static volatile sig_atomic_t sig_result;

static void producing_handler(int sig) {
  (void)sig;
  uint8_t *p = pyr_ring_reserve(&sig_ring, 48);
  if (p == NULL) {
    sig_result = -1;
    return;
  }
  for (uint32_t i = 0; i < 48; i++) p[i] = pat_byte('h', i);
  pyr_ring_commit(&sig_ring, p);
  sig_result = 1;
}

static void test_signal_reentrancy(void **state) {
  (void)state;
  assert_int_equal(pyr_ring_init(&sig_ring, 4096), 0);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = producing_handler;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

  uint8_t *a = pyr_ring_reserve(&sig_ring, 32);
  assert_non_null(a);
  sig_result = 0;
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(sig_result, 1);
  assert_null(pyr_ring_peek(&sig_ring, NULL));
  pat_fill(a, 32, 'm');
  pyr_ring_commit(&sig_ring, a);

  uint32_t len;
  const uint8_t *q = pyr_ring_peek(&sig_ring, &len);
  assert_ptr_equal(q, a);
  assert_true(pat_ok(q, 32, 'm'));
  pyr_ring_release(&sig_ring);
  q = pyr_ring_peek(&sig_ring, &len);
  assert_non_null(q);
  assert_int_equal(len, 48);
  assert_true(pat_ok(q, 48, 'h'));
  pyr_ring_release(&sig_ring);
  assert_null(pyr_ring_peek(&sig_ring, NULL));

  assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
  pyr_ring_destroy(&sig_ring);
}

/* ------------------------------------------------------------------ */
/* Stress: producers on pthreads, the consumer on the main thread.      */

#define MAXPROD 8

typedef struct rec_hdr {
  uint32_t producer;
  uint32_t len; /* total record length, as passed to reserve */
  uint64_t seq;
  uint64_t sum; /* checksum of the body after this header */
} rec_hdr;

/* Body word i of record (producer, seq): a function only of those, so a
 * torn, stale or misrouted record fails the check. */
static uint64_t body_word(uint32_t producer, uint64_t seq, uint32_t i) {
  uint64_t x = ((uint64_t)producer << 56) ^ (seq * 0x9E3779B97F4A7C15ULL) ^
               ((uint64_t)i * 0xD6E8FEB86659FD93ULL);
  x ^= x >> 31;
  return x * 0xBF58476D1CE4E5B9ULL;
}

/* Writes (or, with check set, verifies) the body of a record: 8-byte words
 * while possible (payloads are 8-aligned; keeps the TSan build fast), then
 * single bytes.  Returns the checksum. */
static uint64_t body_apply(uint8_t *body, const uint8_t *cbody, uint32_t n, uint32_t producer,
                           uint64_t seq, int *bad) {
  uint64_t sum = 0xcbf29ce484222325ULL;
  uint32_t w = n / 8, i;
  for (i = 0; i < w; i++) {
    uint64_t v = body_word(producer, seq, i);
    if (body) ((uint64_t *)(void *)body)[i] = v;
    else if (((const uint64_t *)(const void *)cbody)[i] != v) *bad = 1;
    sum = (sum ^ v) * 0x100000001B3ULL;
  }
  uint64_t last = body_word(producer, seq, w);
  for (i = w * 8; i < n; i++) {
    uint8_t v = (uint8_t)(last >> (8 * (i % 8)));
    if (body) body[i] = v;
    else if (cbody[i] != v) *bad = 1;
    sum = (sum ^ v) * 0x100000001B3ULL;
  }
  return sum;
}

typedef struct producer_ctx {
  pyr_ring *ring;
  uint32_t id;
  uint64_t count;    /* records to attempt */
  uint32_t min_len;  /* >= sizeof(rec_hdr) */
  uint32_t len_span; /* lengths are min_len + [0, len_span) ... */
  uint32_t max_len;  /* ... or, now and then, exactly max_len */
  /* results, read by the main thread after pthread_join */
  uint64_t dropped, dropped_bytes, sent;
  uint8_t *dropped_map; /* bit seq set when reserve returned NULL */
  _Atomic int *done;
} producer_ctx;

static void *producer_main(void *arg) {
  producer_ctx *c = arg;
  uint64_t rng = 0x1234567ULL + c->id * 0x9E3779B97F4A7C15ULL;
  for (uint64_t seq = 0; seq < c->count; seq++) {
    uint64_t pick = rng_next(&rng);
    uint32_t len = (pick % 64 == 0) ? c->max_len
                                    : c->min_len + (uint32_t)((pick >> 8) % c->len_span);
    uint8_t *p = pyr_ring_reserve(c->ring, len);
    c->sent++;
    if (p == NULL) {
      c->dropped++;
      c->dropped_bytes += len;
      c->dropped_map[seq / 8] |= (uint8_t)(1u << (seq % 8));
      /* Test policy, not the ring's: let the consumer catch up so the
       * stress test also delivers plenty of records on few CPUs. */
      sched_yield();
      continue;
    }
    rec_hdr h = {.producer = c->id, .len = len, .seq = seq};
    h.sum = body_apply(p + sizeof h, NULL, len - (uint32_t)sizeof h, c->id, seq, NULL);
    memcpy(p, &h, sizeof h);
    pyr_ring_commit(c->ring, p);
  }
  /* Release: everything this producer did (its commits, its counters)
   * happens-before the consumer's acquire of done. */
  atomic_fetch_add_explicit(c->done, 1, memory_order_release);
  return NULL;
}

typedef struct consumer_state {
  uint64_t received[MAXPROD];
  int64_t last_seq[MAXPROD];
  uint8_t *received_map[MAXPROD];
  uint64_t bad_len, bad_producer, bad_order, bad_sum, bad_body, dup;
} consumer_state;

static void consume_one(consumer_state *s, const uint8_t *q, uint32_t len, uint32_t nprod,
                        uint64_t count) {
  rec_hdr h;
  if (len < sizeof h) {
    s->bad_len++;
    return;
  }
  memcpy(&h, q, sizeof h);
  if (h.producer >= nprod || h.seq >= count) {
    s->bad_producer++;
    return;
  }
  if (h.len != len) s->bad_len++;
  if ((int64_t)h.seq <= s->last_seq[h.producer]) s->bad_order++;
  s->last_seq[h.producer] = (int64_t)h.seq;
  uint8_t *m = &s->received_map[h.producer][h.seq / 8];
  if (*m & (1u << (h.seq % 8))) s->dup++;
  *m |= (uint8_t)(1u << (h.seq % 8));
  s->received[h.producer]++;
  int bad = 0;
  uint64_t sum = body_apply(NULL, q + sizeof h, len - (uint32_t)sizeof h, h.producer, h.seq, &bad);
  if (bad) s->bad_body++;
  if (sum != h.sum) s->bad_sum++;
}

static void run_stress(uint32_t nprod, uint64_t count, size_t capacity, uint32_t min_len,
                       uint32_t len_span) {
  pyr_ring r;
  assert_int_equal(pyr_ring_init(&r, capacity), 0);
  const uint32_t max_len = (uint32_t)PYR_RING_MAX_RECORD(&r);
  assert_true(min_len >= sizeof(rec_hdr) && min_len + len_span <= max_len);

  _Atomic int done = 0;
  producer_ctx ctx[MAXPROD];
  pthread_t th[MAXPROD];
  consumer_state *s = calloc(1, sizeof *s);
  assert_non_null(s);
  for (uint32_t i = 0; i < nprod; i++) {
    ctx[i] = (producer_ctx){.ring = &r, .id = i, .count = count, .min_len = min_len,
                            .len_span = len_span, .max_len = max_len, .done = &done};
    ctx[i].dropped_map = calloc(count / 8 + 1, 1);
    s->received_map[i] = calloc(count / 8 + 1, 1);
    s->last_seq[i] = -1;
    assert_non_null(ctx[i].dropped_map);
    assert_non_null(s->received_map[i]);
  }
  for (uint32_t i = 0; i < nprod; i++)
    assert_int_equal(pthread_create(&th[i], NULL, producer_main, &ctx[i]), 0);

  uint64_t total = 0;
  for (;;) {
    uint32_t len;
    const uint8_t *q = pyr_ring_peek(&r, &len);
    if (q) {
      consume_one(s, q, len, nprod, count);
      pyr_ring_release(&r);
      total++;
      continue;
    }
    /* Acquire pairs with the producers' release: once all are done, all
     * their commits are visible, so an empty peek after this means empty. */
    if (atomic_load_explicit(&done, memory_order_acquire) == (int)nprod) {
      while ((q = pyr_ring_peek(&r, &len)) != NULL) {
        consume_one(s, q, len, nprod, count);
        pyr_ring_release(&r);
        total++;
      }
      break;
    }
    sched_yield();
  }
  for (uint32_t i = 0; i < nprod; i++) assert_int_equal(pthread_join(th[i], NULL), 0);

  assert_int_equal(s->bad_len, 0);
  assert_int_equal(s->bad_producer, 0);
  assert_int_equal(s->bad_order, 0);
  assert_int_equal(s->bad_body, 0);
  assert_int_equal(s->bad_sum, 0);
  assert_int_equal(s->dup, 0);

  uint64_t sent = 0, dropped = 0, dropped_bytes = 0;
  for (uint32_t i = 0; i < nprod; i++) {
    assert_int_equal(ctx[i].sent, count);
    /* Exact per-producer accounting: received + dropped == sent ... */
    assert_int_equal(s->received[i] + ctx[i].dropped, ctx[i].sent);
    /* ... and each sequence number is in exactly one of the two sets. */
    for (uint64_t b = 0; b < count / 8 + 1; b++)
      assert_int_equal(s->received_map[i][b] & ctx[i].dropped_map[b], 0);
    for (uint64_t seq = 0; seq < count; seq++) {
      int in_r = (s->received_map[i][seq / 8] >> (seq % 8)) & 1;
      int in_d = (ctx[i].dropped_map[seq / 8] >> (seq % 8)) & 1;
      assert_int_equal(in_r + in_d, 1);
    }
    sent += ctx[i].sent;
    dropped += ctx[i].dropped;
    dropped_bytes += ctx[i].dropped_bytes;
  }
  assert_int_equal(total + dropped, sent);
  pyr_ring_stats st;
  pyr_ring_get_stats(&r, &st);
  assert_int_equal(st.records, total);
  assert_int_equal(st.dropped, dropped);
  assert_int_equal(st.dropped_bytes, dropped_bytes);
  assert_int_equal(st.used, 0);
  assert_true(st.high_water > 0 && st.high_water <= st.capacity);
  assert_true(total > 0);
  assert_true(buffer_all_zero(&r));
  print_message("      %u producer(s): sent %llu, received %llu, dropped %llu, "
                "ring laps %llu, high water %llu/%llu\n",
                nprod, (unsigned long long)sent, (unsigned long long)total,
                (unsigned long long)dropped, (unsigned long long)(tail_of(&r) / r.capacity),
                (unsigned long long)st.high_water, (unsigned long long)st.capacity);

  for (uint32_t i = 0; i < nprod; i++) {
    free(ctx[i].dropped_map);
    free(s->received_map[i]);
  }
  free(s);
  pyr_ring_destroy(&r);
}

static void test_stress_multi_producer(void **state) {
  (void)state;
  /* 16 KiB ring: small enough to wrap thousands of times and to overflow. */
  run_stress(4, 200000, 16384, sizeof(rec_hdr), 600);
}

static void test_stress_single_producer(void **state) {
  (void)state;
  run_stress(1, 400000, 16384, sizeof(rec_hdr), 600);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_rounding),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_single_roundtrip),
      cmocka_unit_test(test_zero_length),
      cmocka_unit_test(test_order_preserved),
      cmocka_unit_test(test_wraparound_many),
      cmocka_unit_test(test_exact_fit),
      cmocka_unit_test(test_overflow_accounting),
      cmocka_unit_test(test_too_large),
      cmocka_unit_test(test_uncommitted_blocks_consumer),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_signal_reentrancy),
      cmocka_unit_test(test_stress_multi_producer),
      cmocka_unit_test(test_stress_single_producer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
