/*
 * upload_queue.h - bounded FIFO of finished uploads that drops the oldest.
 *
 * The aggregator pushes one gzipped JFR chunk per upload period; the sender
 * thread pops them.  When the server is down the queue fills up and each
 * new upload evicts the oldest (newest data is the most useful), so memory
 * stays bounded at `capacity` uploads no matter how long the outage lasts.
 *
 * Threads: any number of pushers and poppers; one mutex + condvar inside.
 */
#ifndef PYRITE_UPLOAD_QUEUE_H
#define PYRITE_UPLOAD_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pyr_upload {
  uint8_t *body;     /* gzipped JFR chunk, malloc'd, owned by the upload */
  size_t len;
  uint64_t from_s;   /* period start, epoch seconds */
  uint64_t until_s;  /* period end, epoch seconds */
  uint8_t *labels;   /* gzipped LabelsSnapshot (dynamic labels) or NULL;
                        malloc'd, owned and freed together with body */
  size_t labels_len;
} pyr_upload;

typedef struct pyr_upload_queue {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pyr_upload *items;
  size_t capacity, head, count;
  uint64_t pushed, dropped;
  int closed;
} pyr_upload_queue;

int pyr_upload_queue_init(pyr_upload_queue *q, size_t capacity);
void pyr_upload_queue_destroy(pyr_upload_queue *q); /* frees queued bodies */
/* Takes ownership of u->body and u->labels.  Evicts (and frees) the oldest when full. */
void pyr_upload_queue_push(pyr_upload_queue *q, pyr_upload *u);
/* Waits until an upload is available or the queue is closed, at most until
 * `deadline` (CLOCK_MONOTONIC ns, 0 = forever).  Returns 1 with *out filled
 * (caller owns body), 0 on timeout or closed-and-empty. */
int pyr_upload_queue_pop(pyr_upload_queue *q, pyr_upload *out, uint64_t deadline);
/* Wakes poppers; after close, pop returns 0 once the queue is empty. */
void pyr_upload_queue_close(pyr_upload_queue *q);
size_t pyr_upload_queue_count(pyr_upload_queue *q);
uint64_t pyr_upload_queue_dropped(pyr_upload_queue *q);

#endif
