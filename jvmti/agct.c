/*
 * agct.c - locating AsyncGetCallTrace.
 *
 * AGCT is an exported C symbol of libjvm but declared in no JDK header.
 * dlopen(..., RTLD_NOLOAD) returns the already-loaded libjvm without ever
 * loading a second copy; when the launcher loaded libjvm under another
 * name or path, dladdr() on a JVMTI function (which lives in libjvm) gives
 * the exact file.  RTLD_DEFAULT is the last resort.
 */
#include "jvm.h"

#include <dlfcn.h>
#include <stddef.h>

static void *lookup_in(const char *path) {
  void *sym = NULL;
  void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
  if (h) {
    sym = dlsym(h, "AsyncGetCallTrace");
    dlclose(h); /* drops only our reference; the JVM keeps it loaded */
  }
  return sym;
}

pyr_agct_fn pyr_jvm_find_agct(jvmtiEnv *jvmti) {
  void *sym = lookup_in("libjvm.so");
  if (!sym) {
    Dl_info info;
    if (dladdr((void *)(*jvmti)->GetVersionNumber, &info) && info.dli_fname)
      sym = lookup_in(info.dli_fname);
  }
  if (!sym)
    sym = dlsym(RTLD_DEFAULT, "AsyncGetCallTrace");
  return (pyr_agct_fn)sym;
}
