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

#endif
