/*
 * events.c - allocation and lock-contention samples from JVMTI callbacks.
 *
 * Both callbacks run on the application thread that allocated or waited,
 * where JVMTI calls are legal, so the stack comes from GetStackTrace (no
 * signal, no safepoint bias for the current thread) straight into a ring
 * record, and the class name is interned (agent/classes.h).
 *
 * Class-id cache: when the agent holds can_tag_objects (agent.c asks for
 * it with alloc= or lock=), the first sample of a class tags its
 * java.lang.Class object with the interned id (agent/classes.h), and every
 * later sample reads the id back with GetTag: no GetClassSignature (a JVMTI
 * allocation), no malloc, no hashing.  Why a tag cannot go stale: a tag is
 * stored with the object itself, in this JVMTI environment's own tag map
 * (no other agent sees or sets it).  A class is unloaded only once its
 * Class object is unreachable; the GC then drops the object's tag with it.
 * A class loaded later (even at the same address, even with the same name
 * from another loader) is a new object with no tag, so its first sample
 * takes the slow path and names it afresh.  And ids are never reused
 * (agent/classes.c never frees a name), so a tag read while its class is
 * alive always names that class.  Without the capability the code asks
 * for the signature on every sample, as before.
 *
 * Allocation weights: HotSpot samples allocations at exponentially
 * distributed byte distances with mean `alloc`, so an object of `size`
 * bytes is sampled with probability 1 - exp(-size/alloc).  Weighting each
 * sample by size / (1 - exp(-size/alloc)) makes the expected total equal
 * the bytes really allocated (the Horvitz-Thompson estimator pprof uses).
 *
 * Lock threshold semantics (lock=T): a wait of d >= T is always recorded
 * with weight d; a shorter wait is recorded with probability d/T and weight
 * T.  Either way E[weight] = d, so delay totals are unbiased while short
 * waits cost almost nothing.  The JFR duration field carries the weight.
 *
 * Threads: any Java thread; per-thread state in TLS (the wait start time,
 * a PRNG, a frame buffer allocated on first use and freed at ThreadEnd).
 */
#include "jvm.h"

#include "classes.h"
#include "log.h"
#include "profiler.h"
#include "wall_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct callback_tls {
  jvmtiFrameInfo *frames;
  uint64_t lock_enter_ns;
  uint64_t rng;
};

static __thread struct callback_tls ctls;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: per-thread, so no shared state on the hot path. */
static double next_uniform(void) {
  if (ctls.rng == 0)
    ctls.rng = mono_ns() ^ (uint64_t)(uintptr_t)&ctls ^ 0x9e3779b97f4a7c15ull;
  ctls.rng ^= ctls.rng >> 12;
  ctls.rng ^= ctls.rng << 25;
  ctls.rng ^= ctls.rng >> 27;
  return (double)((ctls.rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static int class_tags; /* can_tag_objects held: set once in Agent_OnLoad */

void pyr_jvm_set_class_tags(int on) { class_tags = on; }

static int tag_get(void *ctx, void *cls, int64_t *tag) {
  jvmtiEnv *jvmti = ctx;
  jlong t = 0;
  if ((*jvmti)->GetTag(jvmti, (jobject)cls, &t) != JVMTI_ERROR_NONE)
    return -1;
  *tag = (int64_t)t;
  return 0;
}

static int tag_set(void *ctx, void *cls, int64_t tag) {
  jvmtiEnv *jvmti = ctx;
  return (*jvmti)->SetTag(jvmti, (jobject)cls, (jlong)tag) == JVMTI_ERROR_NONE ? 0 : -1;
}

static char *signature_name(void *ctx, void *cls) {
  jvmtiEnv *jvmti = ctx;
  char *sig = NULL, *name = NULL;
  if ((*jvmti)->GetClassSignature(jvmti, (jclass)cls, &sig, NULL) == JVMTI_ERROR_NONE) {
    name = pyr_jvm_class_name(sig);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)sig);
  }
  return name;
}

static uint32_t class_id(jvmtiEnv *jvmti, jclass klass) {
  pyr_classes_source src = {.get_tag = class_tags ? tag_get : NULL,
                            .set_tag = class_tags ? tag_set : NULL,
                            .name = signature_name, .ctx = jvmti};
  return pyr_classes_lookup(&src, (void *)klass);
}

/* Takes the current thread's stack and writes one ring record. */
static void record(jvmtiEnv *jvmti, uint16_t kind, uint64_t ticks, uint64_t weight,
                   uint32_t cls, uint64_t extra2) {
  const pyr_options *o = pyr_profiler_options();
  uint32_t depth = o->jstackdepth;
  jint count = 0;
  pyr_sample *rec;

  if (!ctls.frames && !(ctls.frames = malloc(depth * sizeof(jvmtiFrameInfo))))
    return;
  if ((*jvmti)->GetStackTrace(jvmti, NULL, 0, (jint)depth, ctls.frames, &count) !=
      JVMTI_ERROR_NONE) {
    atomic_fetch_add(&pyr_profiler_callback_counters()->stack_errors, 1);
    count = 0;
  }
  rec = pyr_profiler_reserve((uint32_t)count);
  if (!rec)
    return;
  rec->ticks = ticks;
  rec->weight = weight;
  rec->extra = cls;
  rec->extra2 = extra2;
  rec->context = pyr_sampler_context(); /* this thread's dynamic labels */
  rec->tid = pyr_sampler_gettid();
  rec->num_frames = count > 0 ? count : 0; /* 0 renders as .no_Java_frame */
  rec->kind = kind;
  rec->state = PYR_STATE_RUNNABLE;
  rec->flags = (uint32_t)count >= depth ? PYR_SAMPLE_TRUNCATED : 0;
  for (jint i = 0; i < count; i++) {
    rec->frames[i].method = (uint64_t)(uintptr_t)ctls.frames[i].method;
    rec->frames[i].bci = (int32_t)ctls.frames[i].location;
    rec->frames[i].pad = 0;
  }
  pyr_profiler_commit(rec);
}

void JNICALL pyr_jvm_on_sampled_alloc(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread,
                                       jobject object, jclass klass, jlong size) {
  (void)jni, (void)thread, (void)object;
  /* The callback's own cost, for the stats line (alloc_callback_*_ns):
   * CLOCK_MONOTONIC (vDSO) at entry and exit, two reads more than the
   * sample's timestamp alone; their few tens of ns count in the figure. */
  uint64_t t0 = mono_ns();
  double interval = (double)pyr_profiler_options()->alloc_bytes;
  double bytes = size > 0 ? (double)size : 1.0;
  /* -expm1(-x) = 1 - exp(-x), accurate for small x. */
  double p = -expm1(-bytes / interval);
  uint64_t weight = (uint64_t)(bytes / (p > 0 ? p : 1.0) + 0.5);
  pyr_callback_counters *cc = pyr_profiler_callback_counters();
  uint32_t cls = class_id(jvmti, klass);
  /* The sample's timestamp doubles as the end of the class-name part, the
   * part the tag cache changes (alloc_class_*_ns). */
  uint64_t t1 = mono_ns();
  record(jvmti, PYR_SAMPLE_ALLOC, t1, weight, cls, (uint64_t)size);
  atomic_fetch_add(&cc->alloc_samples, 1);
  uint64_t spent = mono_ns() - t0;
  atomic_fetch_add_explicit(&cc->alloc_callback_ns, spent, memory_order_relaxed);
  atomic_fetch_add_explicit(&cc->alloc_callback_hist[pyr_sampler_hist_bucket(spent)], 1,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&cc->alloc_class_hist[pyr_sampler_hist_bucket(t1 - t0)], 1,
                            memory_order_relaxed);
}

void JNICALL pyr_jvm_on_monitor_contended_enter(jvmtiEnv *jvmti, JNIEnv *jni,
                                                jthread thread, jobject object) {
  (void)jvmti, (void)jni, (void)thread, (void)object;
  ctls.lock_enter_ns = mono_ns();
}

void JNICALL pyr_jvm_on_monitor_contended_entered(jvmtiEnv *jvmti, JNIEnv *jni,
                                                  jthread thread, jobject object) {
  uint64_t start = ctls.lock_enter_ns, now = mono_ns();
  uint64_t threshold = pyr_profiler_options()->lock_ns, d, weight;
  jclass cls;
  (void)thread;
  ctls.lock_enter_ns = 0;
  if (start == 0 || now < start)
    return; /* the wait began before profiling started */
  d = now - start;
  if (d >= threshold) {
    weight = d;
  } else if (next_uniform() * (double)threshold < (double)d) {
    weight = threshold;
  } else {
    atomic_fetch_add(&pyr_profiler_callback_counters()->lock_below_threshold_dropped, 1);
    return;
  }
  cls = (*jni)->GetObjectClass(jni, object);
  record(jvmti, PYR_SAMPLE_LOCK, now, weight, class_id(jvmti, cls), d);
  if (cls)
    (*jni)->DeleteLocalRef(jni, cls);
  atomic_fetch_add(&pyr_profiler_callback_counters()->lock_events, 1);
}

/* Wall-clock hooks (agent/wall_engine.h), called on the attached wall
 * thread.  GetStackTrace on another thread is a handshake: a blocked or
 * native target is walked without waking it. */
int pyr_jvm_thread_state(void *arg, void *thread_ref) {
  pyr_jvm_ctx *c = arg;
  jint st = 0;
  int out = 0;
  if ((*c->jvmti)->GetThreadState(c->jvmti, (jthread)thread_ref, &st) != JVMTI_ERROR_NONE)
    return 0;
  if (st & JVMTI_THREAD_STATE_ALIVE)
    out |= PYR_TS_ALIVE;
  if ((st & JVMTI_THREAD_STATE_RUNNABLE) && !(st & JVMTI_THREAD_STATE_IN_NATIVE) &&
      !(st & JVMTI_THREAD_STATE_SUSPENDED))
    out |= PYR_TS_JAVA_RUNNING;
  if (st & (JVMTI_THREAD_STATE_BLOCKED_ON_MONITOR_ENTER | JVMTI_THREAD_STATE_WAITING))
    out |= PYR_TS_WAITING; /* WAITING covers sleep, Object.wait and park */
  return out;
}

int pyr_jvm_thread_stack(void *arg, void *thread_ref, pyr_frame *out, uint32_t max) {
  pyr_jvm_ctx *c = arg;
  jint count = 0;
  if (!ctls.frames && !(ctls.frames = malloc(max * sizeof(jvmtiFrameInfo))))
    return -1;
  if ((*c->jvmti)->GetStackTrace(c->jvmti, (jthread)thread_ref, 0, (jint)max, ctls.frames,
                                 &count) != JVMTI_ERROR_NONE)
    return -1;
  for (jint i = 0; i < count; i++) {
    out[i].method = (uint64_t)(uintptr_t)ctls.frames[i].method;
    out[i].bci = (int32_t)ctls.frames[i].location;
    out[i].pad = 0;
  }
  return (int)count;
}

void pyr_jvm_thread_cleanup(void) {
  free(ctls.frames);
  ctls.frames = NULL;
}
