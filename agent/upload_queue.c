/*
 * upload_queue.c - bounded drop-oldest upload queue (see upload_queue.h).
 *
 * A ring of `capacity` slots under one mutex.  The condvar uses
 * CLOCK_MONOTONIC so a wall-clock jump cannot stretch a shutdown deadline.
 */
#include "upload_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int pyr_upload_queue_init(pyr_upload_queue *q, size_t capacity) {
  pthread_condattr_t attr;
  memset(q, 0, sizeof(*q));
  q->items = calloc(capacity ? capacity : 1, sizeof(pyr_upload));
  if (!q->items)
    return -1;
  q->capacity = capacity ? capacity : 1;
  pthread_mutex_init(&q->lock, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cond, &attr);
  pthread_condattr_destroy(&attr);
  return 0;
}

void pyr_upload_queue_destroy(pyr_upload_queue *q) {
  if (!q->items)
    return;
  for (size_t i = 0; i < q->count; i++) {
    free(q->items[(q->head + i) % q->capacity].body);
    free(q->items[(q->head + i) % q->capacity].labels);
  }
  free(q->items);
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->cond);
  memset(q, 0, sizeof(*q));
}

void pyr_upload_queue_push(pyr_upload_queue *q, pyr_upload *u) {
  pthread_mutex_lock(&q->lock);
  if (q->count == q->capacity) {
    free(q->items[q->head].body);
    free(q->items[q->head].labels);
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    q->dropped++;
  }
  q->items[(q->head + q->count) % q->capacity] = *u;
  q->count++;
  q->pushed++;
  u->body = NULL;
  u->labels = NULL;
  pthread_cond_broadcast(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

int pyr_upload_queue_pop(pyr_upload_queue *q, pyr_upload *out, uint64_t deadline) {
  struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
                        .tv_nsec = (long)(deadline % 1000000000ull)};
  int got = 0;
  pthread_mutex_lock(&q->lock);
  while (q->count == 0 && !q->closed) {
    int rc = deadline ? pthread_cond_timedwait(&q->cond, &q->lock, &ts)
                      : pthread_cond_wait(&q->cond, &q->lock);
    if (rc == ETIMEDOUT)
      break;
  }
  if (q->count > 0) {
    *out = q->items[q->head];
    q->items[q->head].body = NULL;
    q->items[q->head].labels = NULL;
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    got = 1;
  }
  pthread_mutex_unlock(&q->lock);
  return got;
}

void pyr_upload_queue_close(pyr_upload_queue *q) {
  pthread_mutex_lock(&q->lock);
  q->closed = 1;
  pthread_cond_broadcast(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

size_t pyr_upload_queue_count(pyr_upload_queue *q) {
  pthread_mutex_lock(&q->lock);
  size_t n = q->count;
  pthread_mutex_unlock(&q->lock);
  return n;
}

uint64_t pyr_upload_queue_dropped(pyr_upload_queue *q) {
  pthread_mutex_lock(&q->lock);
  uint64_t n = q->dropped;
  pthread_mutex_unlock(&q->lock);
  return n;
}
