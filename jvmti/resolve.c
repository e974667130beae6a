/*
 * resolve.c - jmethodID -> names and line table through JVMTI.
 *
 * Runs on the agent thread (or the VMDeath flush), never in a signal
 * handler.  Every JVMTI-allocated buffer is Deallocate'd and the declaring
 * class's local reference is deleted: leaking it on a long-lived thread
 * grows the JNI local frame forever.
 */
#include "jvm.h"

#include <stdlib.h>
#include <string.h>

char *pyr_jvm_class_name(const char *sig) {
  size_t n = strlen(sig);
  if (n >= 2 && sig[0] == 'L' && sig[n - 1] == ';')
    return strndup(sig + 1, n - 2);
  return strdup(sig);
}

static void read_lines(jvmtiEnv *jvmti, jmethodID m, pyr_method_info *out) {
  jvmtiLineNumberEntry *table = NULL;
  jint count = 0;
  if ((*jvmti)->GetLineNumberTable(jvmti, m, &count, &table) != JVMTI_ERROR_NONE)
    return; /* native, abstract, or compiled without -g:lines */
  out->lines = count > 0 ? calloc((size_t)count, sizeof(pyr_line_entry)) : NULL;
  if (out->lines) {
    for (jint i = 0; i < count; i++) {
      out->lines[i].bci = (int32_t)table[i].start_location;
      out->lines[i].line = (int32_t)table[i].line_number;
    }
    out->nlines = (uint32_t)count;
  }
  (*jvmti)->Deallocate(jvmti, (unsigned char *)table);
}

int pyr_jvm_resolve_method(void *ctx, uint64_t method, pyr_method_info *out) {
  const pyr_jvm_ctx *jc = ctx;
  jvmtiEnv *jvmti = jc->jvmti;
  JavaVM *vm = jc->vm;
  jmethodID m = (jmethodID)(uintptr_t)method;
  char *name = NULL, *sig = NULL, *csig = NULL;
  jclass cls = NULL;
  jint mods = 0;
  int rc = -1;
  JNIEnv *jni = NULL;

  if ((*vm)->GetEnv(vm, (void **)&jni, JNI_VERSION_1_6) != JNI_OK)
    return -1;
  if ((*jvmti)->GetMethodName(jvmti, m, &name, &sig, NULL) != JVMTI_ERROR_NONE)
    goto out;
  if ((*jvmti)->GetMethodDeclaringClass(jvmti, m, &cls) != JVMTI_ERROR_NONE)
    goto out;
  if ((*jvmti)->GetClassSignature(jvmti, cls, &csig, NULL) != JVMTI_ERROR_NONE)
    goto out;
  if ((*jvmti)->GetMethodModifiers(jvmti, m, &mods) != JVMTI_ERROR_NONE)
    mods = 0;
  out->class_name = pyr_jvm_class_name(csig);
  out->name = strdup(name);
  out->signature = strdup(sig);
  out->modifiers = mods;
  if (!out->class_name || !out->name || !out->signature)
    goto out;
  read_lines(jvmti, m, out);
  rc = 0;
out:
  if (cls)
    (*jni)->DeleteLocalRef(jni, cls);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)sig);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)csig);
  return rc;
}
