/*
 * sample.h - the record every sampler writes into the ring.
 *
 * One layout for all sample kinds so one consumer handles them: CPU and
 * wall samples come from signal handlers (frames from AsyncGetCallTrace),
 * allocation and lock samples from JVMTI callbacks (frames converted from
 * GetStackTrace).  Frames are leaf first, as AGCT returns them.
 *
 * pyr_frame deliberately has the layout of HotSpot's ASGCT_CallFrame
 * (jint lineno-as-BCI, padding, jmethodID) so AGCT writes straight into it.
 */
#ifndef PYRITE_SIGNAL_SAMPLE_H
#define PYRITE_SIGNAL_SAMPLE_H

#include <stdint.h>

typedef struct pyr_frame {
  int32_t bci;     /* >= 0 BCI, -1 unknown, -3 native (JNI) method */
  int32_t pad;
  uint64_t method; /* jmethodID as an integer; never dereferenced */
} pyr_frame;

enum pyr_sample_kind {
  PYR_SAMPLE_CPU = 1,
  PYR_SAMPLE_WALL = 2,
  PYR_SAMPLE_ALLOC = 3,
  PYR_SAMPLE_LOCK = 4,
  PYR_SAMPLE_PARK = 5,
};

enum pyr_thread_state {
  PYR_STATE_DEFAULT = 0,
  PYR_STATE_RUNNABLE = 1,
  PYR_STATE_SLEEPING = 2,
};

/* Synthetic "status" values stored in num_frames when there is no Java
 * stack.  0 and -1..-10 are AGCT's own codes; ours start at -100. */
#define PYR_NO_JAVA_ENV (-100) /* thread has no JNIEnv registered */
#define PYR_NO_AGCT (-101)     /* AsyncGetCallTrace unavailable */
/* Wall sample of an idle thread that was not signalled: repeat the
 * thread's last wall stack (the aggregator remembers it). */
#define PYR_WALL_REPEAT (-102)

#define PYR_SAMPLE_TRUNCATED 0x1u

typedef struct pyr_sample {
  uint64_t ticks;     /* CLOCK_MONOTONIC ns when taken */
  uint64_t weight;    /* CPU/wall: ns represented; alloc: bytes; lock: ns */
  uint64_t extra;     /* alloc, lock: class id (agent/classes.h); else 0 */
  uint64_t extra2;    /* alloc: object size in bytes; lock: real wait ns */
  uint64_t context;   /* dynamic-labels context id of the thread (agent/context.h); 0 = none */
  uint32_t tid;       /* OS thread id */
  int32_t num_frames; /* > 0: frames follow; <= 0: status code, no frames */
  uint16_t kind;      /* enum pyr_sample_kind */
  uint16_t state;     /* enum pyr_thread_state */
  uint32_t flags;     /* PYR_SAMPLE_TRUNCATED, ... */
  pyr_frame frames[];
} pyr_sample;

static inline uint32_t pyr_sample_size(int32_t num_frames) {
  return (uint32_t)(sizeof(pyr_sample) +
                    (num_frames > 0 ? (uint32_t)num_frames : 0u) * sizeof(pyr_frame));
}

#endif
