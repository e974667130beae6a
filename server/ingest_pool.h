/*
 * ingest_pool.h - a fixed pool of threads running queued jobs.
 *
 * What: the HTTP threads only receive bodies; decoding, storage writes
 * (which block until durable) and building the response run here, so a
 * slow disk never stalls connection I/O and many uploads can wait for the
 * same group commit.  The queue is bounded: a full queue refuses the job
 * and the caller answers 503 (agents retry 5xx).
 *
 * Threads: submit may be called from any thread; stop from one thread,
 * once, after which submit must not be called.  Jobs run on pool threads.
 */
#ifndef PYRITE_SERVER_INGEST_POOL_H
#define PYRITE_SERVER_INGEST_POOL_H

#include <stddef.h>

typedef struct pyr_pool pyr_pool;
typedef void (*pyr_pool_fn)(void *arg);

/* Starts nthreads threads (>= 1) with room for max_queue waiting jobs.
 * Returns NULL on failure. */
pyr_pool *pyr_pool_new(unsigned nthreads, size_t max_queue);

/* Queues fn(arg).  Returns 0, or -1 if the queue is full or stopping. */
int pyr_pool_submit(pyr_pool *p, pyr_pool_fn fn, void *arg);

/* Jobs queued or running right now. */
size_t pyr_pool_pending(pyr_pool *p);

/* Runs every job already queued, then joins the threads and frees p.
 * NULL is a no-op. */
void pyr_pool_stop(pyr_pool *p);

#endif /* PYRITE_SERVER_INGEST_POOL_H */
