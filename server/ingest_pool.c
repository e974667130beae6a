/*
 * ingest_pool.c - bounded job queue + worker threads (see ingest_pool.h).
 *
 * What: a ring of (fn, arg) protected by one mutex and condition variable.
 * Jobs are coarse (milliseconds: decode + durable write), so a single lock
 * is nowhere near contention.
 *
 * Threads: the mutex guards head/len/stopping/running; workers sleep on
 * `cv` while the queue is empty.
 *
 * Invariants: len <= cap; after stopping is set no job is accepted, but
 * every job accepted before is run (callers rely on each job answering its
 * request).
 */
#include "ingest_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
  pyr_pool_fn fn;
  void *arg;
};

struct pyr_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct job *ring;
  size_t cap, head, len;
  size_t running;
  bool stopping;
  pthread_t *threads;
  unsigned nthreads;
};

static void *worker(void *vp) {
  pyr_pool *p = vp;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->len == 0 && !p->stopping)
      pthread_cond_wait(&p->cv, &p->mu);
    if (p->len == 0 && p->stopping)
      break;
    struct job j = p->ring[p->head];
    p->head = (p->head + 1) % p->cap;
    p->len--;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    j.fn(j.arg);
    pthread_mutex_lock(&p->mu);
    p->running--;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

pyr_pool *pyr_pool_new(unsigned nthreads, size_t max_queue) {
  pyr_pool *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->cap = max_queue ? max_queue : 1;
  p->ring = calloc(p->cap, sizeof(*p->ring));
  p->threads = calloc(nthreads ? nthreads : 1, sizeof(*p->threads));
  if (p->ring == NULL || p->threads == NULL ||
      pthread_mutex_init(&p->mu, NULL) != 0) {
    free(p->ring);
    free(p->threads);
    free(p);
    return NULL;
  }
  pthread_cond_init(&p->cv, NULL);
  for (unsigned i = 0; i < (nthreads ? nthreads : 1); i++) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    /* Decoders recurse little; 1 MiB keeps 100s of workers cheap. */
    pthread_attr_setstacksize(&at, 1u << 20);
    int rc = pthread_create(&p->threads[i], &at, worker, p);
    pthread_attr_destroy(&at);
    if (rc != 0)
      break;
    p->nthreads++;
  }
  if (p->nthreads == 0) {
    pyr_pool_stop(p);
    return NULL;
  }
  return p;
}

int pyr_pool_submit(pyr_pool *p, pyr_pool_fn fn, void *arg) {
  int rc = -1;
  pthread_mutex_lock(&p->mu);
  if (!p->stopping && p->len < p->cap) {
    p->ring[(p->head + p->len) % p->cap] = (struct job){fn, arg};
    p->len++;
    rc = 0;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

size_t pyr_pool_pending(pyr_pool *p) {
  pthread_mutex_lock(&p->mu);
  size_t n = p->len + p->running;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void pyr_pool_stop(pyr_pool *p) {
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (unsigned i = 0; i < p->nthreads; i++)
    pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->ring);
  free(p->threads);
  free(p);
}
