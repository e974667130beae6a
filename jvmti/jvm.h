/*
 * jvm.h - internal interface of the JVM boundary (jvmti/).
 *
 * This directory is the only place that includes jni.h/jvmti.h.  It turns
 * JVM callbacks into calls on the JVM-agnostic agent core (agent/).
 */
#ifndef PYRITE_JVMTI_JVM_H
#define PYRITE_JVMTI_JVM_H

#include "sampler.h"
#include "symbols.h"

#include <jni.h>
#include <jvmti.h>

typedef struct pyr_jvm_ctx {
  JavaVM *vm;
  jvmtiEnv *jvmti;
} pyr_jvm_ctx;

/* Finds AsyncGetCallTrace in the running libjvm; NULL if absent. */
pyr_agct_fn pyr_jvm_find_agct(jvmtiEnv *jvmti);

/* Resolver for agent/symbols.c: ctx is a pyr_jvm_ctx*.  Must run on a thread
 * attached to the JVM (the agent thread or a JVMTI callback). */
int pyr_jvm_resolve_method(void *ctx, uint64_t method, pyr_method_info *out);

/* "Lcom/example/Demo;" -> "com/example/Demo" (malloc'd); other forms as is. */
char *pyr_jvm_class_name(const char *signature);

/* JVMTI callbacks for allocation and lock profiling (events.c). */
void JNICALL pyr_jvm_on_sampled_alloc(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread,
                                       jobject object, jclass klass, jlong size);
void JNICALL pyr_jvm_on_monitor_contended_enter(jvmtiEnv *jvmti, JNIEnv *jni,
                                                jthread thread, jobject object);
void JNICALL pyr_jvm_on_monitor_contended_entered(jvmtiEnv *jvmti, JNIEnv *jni,
                                                  jthread thread, jobject object);
/* Whether events.c may cache class ids in JVMTI object tags (the
 * environment holds can_tag_objects); set once before events are enabled. */
void pyr_jvm_set_class_tags(int on);
/* Wall-clock hooks (agent/wall_engine.h); ctx is a pyr_jvm_ctx*. */
int pyr_jvm_thread_state(void *ctx, void *thread_ref);
int pyr_jvm_thread_stack(void *ctx, void *thread_ref, pyr_frame *out, uint32_t max);
/* Frees the calling thread's callback buffers (ThreadEnd). */
void pyr_jvm_thread_cleanup(void);

#endif
