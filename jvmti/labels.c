/*
 * labels.c - the native methods behind the Java dynamic-labels API
 * (api/src/pyrite/Labels.java, class pyrite.Labels).
 *
 * HotSpot resolves a native method by its JNI name in the class loader's
 * libraries and then in every loaded JVMTI agent library, so exporting the
 * Java_pyrite_Labels_* symbols from libpyrite.so is enough: no
 * System.loadLibrary, no RegisterNatives.  Without the agent the first
 * call throws UnsatisfiedLinkError and the Java side turns itself into a
 * no-op.
 *
 * Threads: any Java thread, each setting only its own context.  setContext
 * is two relaxed stores (TLS for the signal handlers, the wall slot for
 * samples taken without signalling the thread); register copies the
 * strings into the bounded process-wide table (agent/context.h).
 */
#include "jvm.h"

#include "context.h"
#include "sampler.h"

#include <stdlib.h>

/* static native void setContext0(long id); */
JNIEXPORT void JNICALL Java_pyrite_Labels_setContext0(JNIEnv *env, jclass cls, jlong id) {
  (void)env;
  (void)cls;
  pyr_sampler_set_context(id > 0 ? (uint64_t)id : 0);
}

/* static native int register0(long id, String[] keysAndValues);
 * keysAndValues = {k0, v0, k1, v1, ...}.  Returns 0 (stored), -1
 * (rejected: invalid set) or -2 (table full), see enum pyr_ctx_result. */
JNIEXPORT jint JNICALL Java_pyrite_Labels_register0(JNIEnv *env, jclass cls, jlong id,
                                                    jobjectArray kv) {
  const char *strs[2 * PYR_CTX_MAX_PAIRS] = {0};
  jstring refs[2 * PYR_CTX_MAX_PAIRS] = {0};
  jint rc = PYR_CTX_REJECTED;
  jsize n = 0, got = 0;

  (void)cls;
  if (id <= 0 || !kv)
    return PYR_CTX_REJECTED;
  n = (*env)->GetArrayLength(env, kv);
  if (n < 0 || (n & 1) || n > 2 * PYR_CTX_MAX_PAIRS) {
    pyr_ctx_table_register(pyr_ctx_global(), 0, NULL, NULL, 0); /* counted as rejected */
    return PYR_CTX_REJECTED;
  }
  for (got = 0; got < n; got++) {
    refs[got] = (jstring)(*env)->GetObjectArrayElement(env, kv, got);
    if (!refs[got] || !(strs[got] = (*env)->GetStringUTFChars(env, refs[got], NULL)))
      goto out;
  }
  const char *keys[PYR_CTX_MAX_PAIRS], *vals[PYR_CTX_MAX_PAIRS];
  for (jsize i = 0; i < n / 2; i++) {
    keys[i] = strs[2 * i];
    vals[i] = strs[2 * i + 1];
  }
  rc = pyr_ctx_table_register(pyr_ctx_global(), (uint64_t)id, keys, vals, (size_t)n / 2);
out:
  for (jsize i = 0; i <= got && i < n; i++) {
    if (strs[i])
      (*env)->ReleaseStringUTFChars(env, refs[i], strs[i]);
    if (refs[i])
      (*env)->DeleteLocalRef(env, refs[i]);
  }
  if ((*env)->ExceptionCheck(env))
    (*env)->ExceptionClear(env); /* e.g. an OOM copying a string: no labels, no throw */
  return rc;
}
