/*
 * stress_jni.c - a tiny JNI library for the agent stress suite
 * (tests/integration/test_agent_stress.py, workload Stress.java / StressNative.java).
 *
 * Java_pyrite_it_StressNative_spin hashes in C and calls back into Java
 * (StressNative.callback) every `every` iterations, so the profiled stacks hold
 * native frames between Java frames; callbacks may call spin again (nested) and
 * may throw, which this side checks for and clears.
 *
 * Threads: any Java thread that calls StressNative.spin; no shared mutable state
 * except the cached method id (a benign race: every thread stores the same value).
 * Invariant: the result depends only on the arguments (the test compares it with a
 * run without the agent). Built by the test with cc against the JDK's include/ dir.
 */
#include <jni.h>
#include <stdint.h>

static jmethodID callback_id;

JNIEXPORT jlong JNICALL Java_pyrite_it_StressNative_spin(JNIEnv *env, jclass cls, jlong iters,
                                                         jint every, jint nest) {
  uint64_t h = 1469598103934665603ull;
  jmethodID cb = callback_id;
  if (cb == NULL) {
    cb = (*env)->GetStaticMethodID(env, cls, "callback", "(JI)J");
    if (cb == NULL)
      return 0; /* NoSuchMethodError is pending; Java sees it */
    callback_id = cb;
  }
  for (jlong i = 0; i < iters; i++) {
    h = (h ^ (uint64_t)i) * 1099511628211ull;
    h ^= h >> 29;
    if (every > 0 && i % every == every - 1) {
      jlong r = (*env)->CallStaticLongMethod(env, cls, cb, (jlong)h, nest);
      if ((*env)->ExceptionCheck(env)) {
        /* The callback threw on purpose: clear it and fold the fact in. */
        (*env)->ExceptionClear(env);
        h ^= 0xdeadull;
      } else {
        h ^= (uint64_t)r;
      }
    }
  }
  return (jlong)h;
}
