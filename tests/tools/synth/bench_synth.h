/*
 * bench_synth.h - synthetic profile generator shared by the storage and
 * query benchmarks (see bench_synth.c).  Not thread-safe.
 */
#ifndef PYRITE_BENCH_SYNTH_H
#define PYRITE_BENCH_SYNTH_H

#include "profile.h"
#include "store.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * SEC) /* 2026-01-01 00:00 UTC */

enum { SYNTH_CPU, SYNTH_WALL, SYNTH_ALLOC, SYNTH_LOCK, SYNTH_KINDS };

/* One 10 s upload: one profile per kind. */
typedef struct synth_upload {
  pyr_prof *p[SYNTH_KINDS];
} synth_upload;

extern const pyr_prof_type synth_types[SYNTH_KINDS];
extern double synth_scale;        /* samples per upload multiplier */
extern _Atomic int64_t synth_now; /* the store's simulated clock */

void synth_seed(uint64_t seed); /* before synth_init */
void synth_init(void);
int synth_nmethods(void);
int synth_nframes(void);
void synth_gen_upload(synth_upload *u);
void synth_free_upload(synth_upload *u);
size_t synth_distinct_stacks(const synth_upload *u);
int synth_write_upload(pyr_store *st, const synth_upload *u, const char *svc, int64_t from);
/* Opens (creating) a store whose clock is synth_now. Exits on failure. */
pyr_store *synth_open_store(const char *dir, int sync_full);
double synth_now_s(void);
double synth_cpu_process_s(void);
double synth_cpu_thread_s(void);
double synth_pct(double *v, size_t n, double p); /* sorts v */

#endif
