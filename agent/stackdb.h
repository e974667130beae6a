/*
 * stackdb.h - deduplicated stack traces for one upload window.
 *
 * The aggregator interns every sample's frames here and keeps only a small
 * id per event, so a window with thousands of samples of the same few
 * stacks stores each stack once.  Stacks are compared frame by frame (not
 * only by hash), so two different stacks are never merged.
 *
 * Threads: owned by the aggregator thread.  Bounds: max_stacks entries and
 * max_frames frames in total, fixed at creation; beyond them intern()
 * returns PYR_STACK_OVERFLOW_ID, a reserved id the writer shows as a
 * "[storage_overflow]" frame, and the loss is counted.
 */
#ifndef PYRITE_STACKDB_H
#define PYRITE_STACKDB_H

#include "sample.h"

#include <stddef.h>
#include <stdint.h>

#define PYR_STACK_OVERFLOW_ID 1u /* reserved; real stacks start at 2 */

typedef struct pyr_stackdb pyr_stackdb;

pyr_stackdb *pyr_stackdb_new(size_t max_stacks, size_t max_frames);
void pyr_stackdb_free(pyr_stackdb *db);
void pyr_stackdb_reset(pyr_stackdb *db);
uint32_t pyr_stackdb_intern(pyr_stackdb *db, const pyr_frame *frames, uint32_t n,
                            uint32_t flags);
/* Frames (leaf first) of a stack id; NULL for unknown or overflow ids. */
const pyr_frame *pyr_stackdb_get(const pyr_stackdb *db, uint32_t id, uint32_t *n,
                                 uint32_t *flags);
size_t pyr_stackdb_count(const pyr_stackdb *db);
uint64_t pyr_stackdb_overflows(const pyr_stackdb *db);

#endif
