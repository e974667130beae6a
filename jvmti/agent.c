/*
 * agent.c - Agent_OnLoad and the JVMTI event callbacks.
 *
 * What the JVM must do for AsyncGetCallTrace to work (and why):
 *  - ClassLoad events enabled: without them AGCT returns -1 for everything;
 *  - a jmethodID for every method before a signal can see it: AGCT only
 *    looks ids up, it cannot create them, so ClassPrepare calls
 *    GetClassMethods and VMInit sweeps the classes loaded before that;
 *  - CompiledMethodLoad enabled: HotSpot then records debug info at
 *    non-safepoint PCs, so inlined frames are attributed correctly;
 *  - each thread's real JNIEnv stored in TLS at ThreadStart (the handler
 *    must not call GetEnv).
 * Failure policy: the agent never fails the JVM.  Any problem prints one
 * "[pyrite]" line and the JVM continues without (some) profiling.
 *
 * Threads: OnLoad on the launcher thread; the callbacks on the threads the
 * JVM posts them from; the profiler's own threads (aggregator, uploader)
 * are plain pthreads; the aggregator attaches to the JVM only to resolve
 * names.
 */
#include "jvm.h"

#include "log.h"
#include "options.h"
#include "profiler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* jmethodIDs are never freed before JDK 26; stop creating them past this. */
#define MAX_PREPARED_METHODS 4000000
/* The longest the agent may delay JVM exit: final chunk plus last upload. */
#define VMDEATH_BUDGET_MS 2000

static pyr_jvm_ctx ctx;
static _Atomic uint64_t prepared_methods, capped_methods;
static jmethodID thread_get_id; /* java.lang.Thread.getId()J, cached */

static void prepare_methods(jvmtiEnv *jvmti, jclass klass) {
  jint count = 0;
  jmethodID *methods = NULL;
  if (atomic_load_explicit(&prepared_methods, memory_order_relaxed) >= MAX_PREPARED_METHODS) {
    atomic_fetch_add_explicit(&capped_methods, 1, memory_order_relaxed);
    return;
  }
  /* The call itself is the point: it makes the JVM create the ids. */
  if ((*jvmti)->GetClassMethods(jvmti, klass, &count, &methods) == JVMTI_ERROR_NONE) {
    atomic_fetch_add_explicit(&prepared_methods, (uint64_t)count, memory_order_relaxed);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)methods);
  }
}

/* GetLoadedClasses hands back one JNI local reference per class, thousands
 * at once.  Declaring that capacity before the next JNI call keeps
 * -Xcheck:jni from warning "JNI local refs: N, exceeds capacity: 32" (the
 * checked JNI layer compares live refs with the planned capacity on every
 * JNI exit); each ref is deleted as soon as its class is done. */
static void sweep_loaded_classes(jvmtiEnv *jvmti, JNIEnv *jni) {
  jint count = 0;
  jclass *classes = NULL;
  if ((*jvmti)->GetLoadedClasses(jvmti, &count, &classes) != JVMTI_ERROR_NONE)
    return;
  if ((*jni)->EnsureLocalCapacity(jni, count + 16) != 0)
    (*jni)->ExceptionClear(jni);
  for (jint i = 0; i < count; i++) {
    jint status = 0;
    if ((*jvmti)->GetClassStatus(jvmti, classes[i], &status) == JVMTI_ERROR_NONE &&
        (status & JVMTI_CLASS_STATUS_PREPARED) && !(status & JVMTI_CLASS_STATUS_ARRAY))
      prepare_methods(jvmti, classes[i]);
    (*jni)->DeleteLocalRef(jni, classes[i]);
  }
  (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
}

static int64_t java_thread_id(JNIEnv *jni, jthread thread) {
  if (!thread_get_id || !thread)
    return -1;
  jlong id = (*jni)->CallLongMethod(jni, thread, thread_get_id);
  if ((*jni)->ExceptionCheck(jni)) {
    (*jni)->ExceptionClear(jni);
    return -1;
  }
  return (int64_t)id;
}

static void register_thread(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread) {
  jvmtiThreadInfo info;
  /* The wall thread needs to name this thread to JVMTI later: keep a
   * global reference until ThreadEnd. */
  jobject ref = (thread && pyr_profiler_options()->wall_ns) ? (*jni)->NewGlobalRef(jni, thread)
                                                            : NULL;
  jobject release;
  memset(&info, 0, sizeof(info));
  if (thread && (*jvmti)->GetThreadInfo(jvmti, thread, &info) == JVMTI_ERROR_NONE) {
    release = pyr_profiler_thread_start(jni, info.name, java_thread_id(jni, thread), ref);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)info.name);
    if (info.thread_group)
      (*jni)->DeleteLocalRef(jni, info.thread_group);
    if (info.context_class_loader)
      (*jni)->DeleteLocalRef(jni, info.context_class_loader);
  } else {
    release = pyr_profiler_thread_start(jni, NULL, -1, ref);
  }
  if (release)
    (*jni)->DeleteGlobalRef(jni, release);
}

static void JNICALL on_class_load(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k) {
  /* Intentionally empty: enabling the event is what AGCT needs. */
  (void)jvmti, (void)jni, (void)t, (void)k;
}

static void JNICALL on_class_prepare(jvmtiEnv *jvmti, JNIEnv *jni, jthread t, jclass k) {
  (void)jni, (void)t;
  prepare_methods(jvmti, k);
}

static void JNICALL on_compiled_method_load(jvmtiEnv *jvmti, jmethodID m, jint size,
                                            const void *addr, jint nmap,
                                            const jvmtiAddrLocationMap *map,
                                            const void *compile_info) {
  /* Intentionally empty: enabling the event turns on DebugNonSafepoints. */
  (void)jvmti, (void)m, (void)size, (void)addr, (void)nmap, (void)map, (void)compile_info;
}

static void JNICALL on_thread_start(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread) {
  register_thread(jvmti, jni, thread);
}

static void JNICALL on_thread_end(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread) {
  (void)jvmti, (void)thread;
  jobject ref = pyr_profiler_thread_end();
  if (ref)
    (*jni)->DeleteGlobalRef(jni, ref);
  pyr_jvm_thread_cleanup();
}

static void JNICALL on_vm_init(jvmtiEnv *jvmti, JNIEnv *jni, jthread thread) {
  jclass tcls = (*jni)->FindClass(jni, "java/lang/Thread");
  if (tcls) {
    thread_get_id = (*jni)->GetMethodID(jni, tcls, "getId", "()J");
    (*jni)->DeleteLocalRef(jni, tcls);
  }
  if ((*jni)->ExceptionCheck(jni))
    (*jni)->ExceptionClear(jni);
  sweep_loaded_classes(jvmti, jni);
  pyr_profiler_note_methods(atomic_load(&prepared_methods), atomic_load(&capped_methods));
  register_thread(jvmti, jni, thread);
  pyr_profiler_start();
}

static void JNICALL on_vm_death(jvmtiEnv *jvmti, JNIEnv *jni) {
  (void)jvmti, (void)jni;
  pyr_profiler_note_methods(atomic_load(&prepared_methods), atomic_load(&capped_methods));
  pyr_profiler_shutdown(VMDEATH_BUDGET_MS);
}

/* The aggregator is a plain pthread; it joins the JVM (as a daemon, so it
 * never holds exit up) only while resolving method names. */
static int attach_aggregator(void *arg) {
  pyr_jvm_ctx *c = arg;
  JNIEnv *jni = NULL;
  JavaVMAttachArgs args = {.version = JNI_VERSION_1_6, .name = "pyrite", .group = NULL};
  return (*c->vm)->AttachCurrentThreadAsDaemon(c->vm, (void **)&jni, &args) == JNI_OK ? 0 : -1;
}

static void detach_aggregator(void *arg) {
  pyr_jvm_ctx *c = arg;
  (*c->vm)->DetachCurrentThread(c->vm);
}

static const char *env_lookup(const char *name) { return getenv(name); }

/* The operator's kill switch: PYRITE_DISABLE set to anything but "", "0",
 * "false", "no" or "off" turns the agent off before it parses options or
 * touches the JVM, and wins over every option (enabled=true included), so a
 * fleet whose image bakes -agentpath into JAVA_TOOL_OPTIONS can be switched
 * off with one environment variable. */
static int killed_by_env(void) {
  static const char *const keep_on[] = {"", "0", "false", "no", "off"};
  const char *v = getenv("PYRITE_DISABLE");
  if (!v)
    return 0;
  for (size_t i = 0; i < sizeof(keep_on) / sizeof(keep_on[0]); i++)
    if (strcasecmp(v, keep_on[i]) == 0)
      return 0;
  return 1;
}

/* JAVA_TOOL_OPTIONS reaches every JVM in a container, JDK tools included
 * (jcmd, jps, javac, keytool, jfr...).  Profiling them is useless and would
 * upload noise, so the agent stays quiet in them. */
static int is_jdk_tool(jvmtiEnv *jvmti) {
  static const char *const prefixes[] = {
      "sun.tools.", "com.sun.tools.", "jdk.jfr.internal.tool.", "sun.security.tools.",
      "jdk.internal.jshell.", "jdk.jshell.", "jdk.tools.", "jdk.jpackage.", "jdk.jlink.",
      "jdk.internal.jrtfs.", "sun.jvm.hotspot.",
  };
  char *cmd = NULL;
  const char *main_class;
  const char *slash, *space;
  int tool = 0;
  if ((*jvmti)->GetSystemProperty(jvmti, "sun.java.command", &cmd) != JVMTI_ERROR_NONE || !cmd)
    return 0;
  /* The JDK's own launchers (jps, jcmd, jfr, javac...) start their main class
   * from a module: "jdk.jcmd/sun.tools.jps.Jps".  Compare the class part. */
  main_class = cmd;
  slash = strchr(cmd, '/');
  space = strchr(cmd, ' ');
  if (slash && (!space || slash < space))
    main_class = slash + 1;
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
    if (strncmp(main_class, prefixes[i], strlen(prefixes[i])) == 0)
      tool = 1;
  (*jvmti)->Deallocate(jvmti, (unsigned char *)cmd);
  return tool;
}

/* AGCT misbehaves on non-HotSpot VMs (OpenJ9 livelocks, Zing codes). */
static int is_hotspot(jvmtiEnv *jvmti) {
  char *vm_name = NULL;
  int ok = 0;
  if ((*jvmti)->GetSystemProperty(jvmti, "java.vm.name", &vm_name) == JVMTI_ERROR_NONE &&
      vm_name) {
    ok = strstr(vm_name, "HotSpot") != NULL || strstr(vm_name, "OpenJDK") != NULL;
    (*jvmti)->Deallocate(jvmti, (unsigned char *)vm_name);
  }
  return ok;
}

/* Capabilities and events, asking only for what the options need: the
 * monitor and allocation capabilities are not free for the JVM. */
static int setup_jvmti(jvmtiEnv *jvmti, const pyr_options *o) {
  jvmtiCapabilities want, potential;
  jvmtiEventCallbacks cb;
  int alloc = o->alloc_bytes != 0, lock = o->lock_ns != PYR_LOCK_OFF;
  static const jvmtiEvent events[] = {
      JVMTI_EVENT_VM_INIT,      JVMTI_EVENT_VM_DEATH,     JVMTI_EVENT_CLASS_LOAD,
      JVMTI_EVENT_CLASS_PREPARE, JVMTI_EVENT_THREAD_START, JVMTI_EVENT_THREAD_END,
  };

  memset(&want, 0, sizeof(want));
  memset(&potential, 0, sizeof(potential));
  (*jvmti)->GetPotentialCapabilities(jvmti, &potential);
  want.can_get_line_numbers = potential.can_get_line_numbers;
  want.can_get_source_file_name = potential.can_get_source_file_name;
  want.can_generate_compiled_method_load_events =
      potential.can_generate_compiled_method_load_events;
  if (alloc && !potential.can_generate_sampled_object_alloc_events) {
    pyr_warn("this JVM cannot sample allocations (JDK 11+ needed); alloc= ignored");
    alloc = 0;
  }
  if (lock && !potential.can_generate_monitor_events) {
    pyr_warn("this JVM cannot report monitor contention; lock= ignored");
    lock = 0;
  }
  want.can_generate_sampled_object_alloc_events = alloc;
  want.can_generate_monitor_events = lock;
  /* Object tags cache the class-name id of allocation and lock samples
   * (events.c).  HotSpot offers the capability in the OnLoad phase; its
   * side effects there are small (the CDS archive is mapped read-write,
   * the tag map costs a few bytes per tagged class).  Without it, or with
   * the test hook PYRITE_TEST_NO_CLASS_TAG_CACHE=1 (measures the uncached
   * path), every sample asks for the class signature as before. */
  if ((alloc || lock) && potential.can_tag_objects) {
    const char *no_cache = getenv("PYRITE_TEST_NO_CLASS_TAG_CACHE");
    if (no_cache && strcmp(no_cache, "1") == 0)
      pyr_info("PYRITE_TEST_NO_CLASS_TAG_CACHE=1: class-name cache off (test hook)");
    else
      want.can_tag_objects = 1;
  }
  if ((*jvmti)->AddCapabilities(jvmti, &want) != JVMTI_ERROR_NONE) {
    if (!want.can_tag_objects)
      return -1;
    /* The cache is an optimisation: never lose profiling over it. */
    want.can_tag_objects = 0;
    if ((*jvmti)->AddCapabilities(jvmti, &want) != JVMTI_ERROR_NONE)
      return -1;
  }
  pyr_jvm_set_class_tags(want.can_tag_objects);

  memset(&cb, 0, sizeof(cb));
  cb.VMInit = on_vm_init;
  cb.VMDeath = on_vm_death;
  cb.ClassLoad = on_class_load;
  cb.ClassPrepare = on_class_prepare;
  cb.ThreadStart = on_thread_start;
  cb.ThreadEnd = on_thread_end;
  cb.CompiledMethodLoad = on_compiled_method_load;
  cb.SampledObjectAlloc = pyr_jvm_on_sampled_alloc;
  cb.MonitorContendedEnter = pyr_jvm_on_monitor_contended_enter;
  cb.MonitorContendedEntered = pyr_jvm_on_monitor_contended_entered;
  if ((*jvmti)->SetEventCallbacks(jvmti, &cb, sizeof(cb)) != JVMTI_ERROR_NONE)
    return -1;
  for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
    if ((*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, events[i], NULL) !=
        JVMTI_ERROR_NONE)
      return -1;
  if (want.can_generate_compiled_method_load_events)
    (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_COMPILED_METHOD_LOAD,
                                       NULL);
  if (alloc) {
    /* Set early: each thread's next sample point is drawn from the old
     * interval, so a late change takes a while to apply. */
    if ((*jvmti)->SetHeapSamplingInterval(jvmti, (jint)o->alloc_bytes) != JVMTI_ERROR_NONE ||
        (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE,
                                           JVMTI_EVENT_SAMPLED_OBJECT_ALLOC, NULL) !=
            JVMTI_ERROR_NONE)
      pyr_warn("allocation sampling could not be enabled; alloc= ignored");
  }
  if (lock &&
      ((*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE,
                                          JVMTI_EVENT_MONITOR_CONTENDED_ENTER, NULL) !=
           JVMTI_ERROR_NONE ||
       (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE,
                                          JVMTI_EVENT_MONITOR_CONTENDED_ENTERED, NULL) !=
           JVMTI_ERROR_NONE))
    pyr_warn("monitor contention events could not be enabled; lock= ignored");
  return 0;
}

static atomic_flag onload_called = ATOMIC_FLAG_INIT;

JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved) {
  pyr_options opt;
  char err[512];
  jvmtiEnv *jvmti = NULL;
  pyr_agct_fn agct;

  (void)reserved;
  /* -agentpath in both JAVA_TOOL_OPTIONS and the command line (common when a
   * base image presets it) loads the library once but calls Agent_OnLoad
   * twice: the first configuration wins, the second is refused. */
  if (atomic_flag_test_and_set(&onload_called)) {
    /* Never echo the options: they may carry credentials. */
    fputs("[pyrite] warn: agent given twice (JAVA_TOOL_OPTIONS and the command line?); "
          "keeping the first configuration, ignoring the second\n", stderr);
    return JNI_OK;
  }
  if (killed_by_env()) {
    fprintf(stderr, "[pyrite] info: PYRITE_DISABLE is set: agent disabled, nothing loaded\n");
    return JNI_OK;
  }
  if (pyr_options_parse(&opt, options, env_lookup, err, sizeof(err)) != 0) {
    /* A bad PYROSCOPE_ or PYRITE_ variable would otherwise print its error
     * in every jps/jcmd/javac of the container too: JDK tools stay silent. */
    jvmtiEnv *probe = NULL;
    int tool = (*vm)->GetEnv(vm, (void **)&probe, JVMTI_VERSION_1_2) == JNI_OK && probe &&
               is_jdk_tool(probe);
    if (probe)
      (*probe)->DisposeEnvironment(probe);
    if (!tool)
      fprintf(stderr, "[pyrite] error: %s; profiling disabled\n", err);
    return JNI_OK;
  }
  pyr_log_set_level((enum pyr_log_level)opt.log_level);
  if (!opt.enabled) {
    pyr_info("disabled by configuration (enabled=false)");
    goto fail;
  }
  if ((*vm)->GetEnv(vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK || !jvmti) {
    pyr_error("this JVM offers no JVMTI 1.2 environment; profiling disabled");
    goto fail;
  }
  if (is_jdk_tool(jvmti)) {
    pyr_debug("JDK tool detected; profiling off for this JVM");
    goto fail;
  }
  ctx.vm = vm;
  ctx.jvmti = jvmti;
  agct = pyr_jvm_find_agct(jvmti);
  if (!agct)
    pyr_warn("AsyncGetCallTrace not found in this JVM; Java stacks are disabled");
  else if (!is_hotspot(jvmti)) {
    pyr_warn("not a HotSpot JVM; AsyncGetCallTrace is unsafe here, Java stacks disabled");
    agct = NULL;
  }
  pyr_profiler_jvm hooks = {.agct = agct, .resolve = pyr_jvm_resolve_method,
                            .attach = attach_aggregator, .detach = detach_aggregator,
                            .thread_state = pyr_jvm_thread_state,
                            .thread_stack = pyr_jvm_thread_stack, .ctx = &ctx};
  if (pyr_profiler_init(&opt, &hooks) != 0)
    goto fail; /* the profiler printed why */
  if (setup_jvmti(jvmti, pyr_profiler_options()) != 0) {
    pyr_error("JVMTI setup failed (capabilities or events refused); profiling disabled");
    goto fail;
  }
  pyr_debug("agent loaded (AsyncGetCallTrace %s)", agct ? "found" : "missing");
  return JNI_OK;
fail:
  pyr_options_free(&opt);
  return JNI_OK; /* never stop the application from starting */
}

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved) {
  (void)vm, (void)options, (void)reserved;
  fprintf(stderr, "[pyrite] error: late attach is not supported; start the JVM with "
                  "-agentpath or JAVA_TOOL_OPTIONS\n");
  return JNI_ERR;
}

JNIEXPORT void JNICALL Agent_OnUnload(JavaVM *vm) {
  (void)vm;
  /* Nothing to free: signal handlers may still run, so memory they can
   * touch lives until the process exits. */
}
