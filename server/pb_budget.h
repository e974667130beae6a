/*
 * pb_budget.h - a protobuf-c allocator with a byte budget.
 *
 * Decoding untrusted protobuf (pprof bodies, Push requests) with the
 * default allocator lets a small, hostile message ask for huge repeated
 * fields.  Giving protobuf-c this allocator caps what one decode may
 * allocate; once the budget is spent, unpack fails cleanly (the caller
 * answers 413/422).  One budget per decode; not shared between threads.
 */
#ifndef PYRITE_SERVER_PB_BUDGET_H
#define PYRITE_SERVER_PB_BUDGET_H

#include <stddef.h>

typedef struct pyr_pb_budget {
  size_t used, max; /* bytes currently allocated, and the cap */
  int refused;      /* set once an allocation was refused for the cap: a
                     * failed unpack was "too large", not "malformed"
                     * (protobuf-c frees what it had before returning) */
} pyr_pb_budget;

/* Sizes a fresh budget for decoding `len` wire bytes: ratio * len + slack,
 * at most cap (overflow saturates to cap). */
void pyr_pb_budget_init(pyr_pb_budget *b, size_t len, size_t ratio, size_t slack,
                        size_t cap);

void *pyr_pb_budget_alloc(void *budget, size_t size);
void pyr_pb_budget_free(void *budget, void *ptr);

/* Initialiser for a ProtobufCAllocator drawing on budget b. */
#define PYR_PB_BUDGET_ALLOCATOR(b) {pyr_pb_budget_alloc, pyr_pb_budget_free, (b)}

#endif
