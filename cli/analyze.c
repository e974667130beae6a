/*
 * analyze.c - diff math, frame families and the bottleneck heuristic (see
 * analyze.h and docs/cli.md).
 *
 * Frame families match Java frames by "Class.method" at a name boundary,
 * so they work for both slash (java/lang/Thread.sleep, what JFR uploads
 * produce) and dotted (java.lang.Thread.sleep, pprof from other clients)
 * names; native frames (epoll_wait) match exactly, because short C names
 * ("poll", "read") would otherwise hit Java methods of the same name.
 *
 * Threads: pure functions; the pattern tables are constant.
 *
 * Invariants: nothing here allocates except pyr_cli_diff_funcs' result.
 */
#include "analyze.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- diff ---- */

static int cmp_func_name(const void *a, const void *b) {
  return strcmp(((const pyr_cli_func *)a)->name, ((const pyr_cli_func *)b)->name);
}

static int cmp_change(const void *a, const void *b) {
  const pyr_cli_change *x = a, *y = b;
  double dx = fabs(x->delta), dy = fabs(y->delta);
  if (dx != dy)
    return dx > dy ? -1 : 1;
  return strcmp(x->name, y->name);
}

static double normalise(uint64_t self, uint64_t total, double seconds,
                        pyr_cli_norm norm) {
  if (norm == PYR_CLI_NORM_PER_SECOND)
    return seconds > 0 ? (double)self / seconds : 0.0;
  return total > 0 ? (double)self / (double)total : 0.0;
}

static pyr_cli_func *sorted_copy(const pyr_cli_func *f, size_t n) {
  pyr_cli_func *c = malloc((n ? n : 1) * sizeof(*c));
  if (c == NULL)
    return NULL;
  if (n)
    memcpy(c, f, n * sizeof(*c));
  qsort(c, n, sizeof(*c), cmp_func_name);
  return c;
}

int pyr_cli_diff_funcs(const pyr_cli_func *before, size_t nbefore,
                       uint64_t before_total, double before_seconds,
                       const pyr_cli_func *after, size_t nafter,
                       uint64_t after_total, double after_seconds,
                       pyr_cli_norm norm, pyr_cli_change **out, size_t *n) {
  pyr_cli_func *b = sorted_copy(before, nbefore), *a = sorted_copy(after, nafter);
  size_t i = 0, j = 0, k = 0;
  int rc = -1;
  *out = malloc((nbefore + nafter + 1) * sizeof(pyr_cli_change));
  if (a == NULL || b == NULL || *out == NULL)
    goto out;
  /* Merge join on name; a function on one side only has 0 on the other. */
  while (i < nbefore || j < nafter) {
    int c = i == nbefore ? 1 : j == nafter ? -1 : strcmp(b[i].name, a[j].name);
    pyr_cli_change *ch = &(*out)[k];
    *ch = (pyr_cli_change){.name = c <= 0 ? b[i].name : a[j].name};
    if (c <= 0)
      ch->before_self = b[i++].self;
    if (c >= 0)
      ch->after_self = a[j++].self;
    if (ch->before_self == 0 && ch->after_self == 0)
      continue;
    ch->before = normalise(ch->before_self, before_total, before_seconds, norm);
    ch->after = normalise(ch->after_self, after_total, after_seconds, norm);
    ch->delta = ch->after - ch->before;
    ch->relative = ch->before > 0 ? ch->delta / ch->before
                   : ch->after > 0 ? INFINITY : 0.0;
    k++;
  }
  qsort(*out, k, sizeof(pyr_cli_change), cmp_change);
  *n = k;
  rc = 0;
out:
  free(a);
  free(b);
  if (rc != 0) {
    free(*out);
    *out = NULL;
  }
  return rc;
}

/* ---- frame families ---- */

static bool is_boundary(char c) { return c == '/' || c == '.' || c == '$'; }

/*
 * True if name contains pat ("Class.method", optionally ending in '*' for
 * "any method starting with") starting at a name boundary and, without
 * '*', ending the name.
 */
static bool has_method(const char *name, const char *pat) {
  size_t plen = strlen(pat);
  bool prefix = plen > 0 && pat[plen - 1] == '*';
  if (prefix)
    plen--;
  for (const char *p = name; *p; p++) {
    if (p != name && !is_boundary(p[-1]))
      continue;
    if (strncmp(p, pat, plen) == 0 && (prefix || p[plen] == '\0'))
      return true;
  }
  return false;
}

static bool any_method(const char *name, const char *const *pats) {
  for (; *pats; pats++)
    if (has_method(name, *pats))
      return true;
  return false;
}

static bool any_exact(const char *name, const char *const *names) {
  for (; *names; names++)
    if (strcmp(name, *names) == 0)
      return true;
  return false;
}

static bool any_prefix(const char *name, const char *const *prefixes) {
  for (; *prefixes; prefixes++)
    if (strncmp(name, *prefixes, strlen(*prefixes)) == 0)
      return true;
  return false;
}

bool pyr_cli_is_gc_frame(const char *name) {
  /* GC thread pseudo-frames the agent writes for non-Java threads, and
   * HotSpot's GC classes when a native unwinder names them. */
  static const char *const prefixes[] = {
      "[GC ", "[G1 ", "[ZDriver", "[ZDirector", "[ZWorker", "[ZStat",
      "[Shenandoah", "[Parallel GC", "G1", "PSScavenge", "PSParallelCompact",
      "PSPromotion", "ZMark", "ZRelocate", "ZHeap", "ShenandoahHeap",
      "CollectedHeap", "GenCollectedHeap", "SerialHeap", "DefNewGeneration",
      "TenuredGeneration", "ParallelScavengeHeap", NULL};
  if (strcmp(name, "GC_active") == 0)
    return true;
  /* Java frames have '/' (or are dotted with no "::"): never GC. */
  if (strchr(name, '/') != NULL)
    return false;
  return any_prefix(name, prefixes);
}

bool pyr_cli_is_wait_frame(const char *name) {
  static const char *const methods[] = {
      "Thread.sleep*", "Object.wait*", "Unsafe.park", "LockSupport.park*",
      "Thread.join", "SocketInputStream.socketRead*", "SocketInputStream.read",
      "NioSocketImpl.read", "NioSocketImpl.timedRead", "NioSocketImpl.park",
      "NioSocketImpl.accept", "SocketDispatcher.read*", "FileDispatcherImpl.read*",
      "FileInputStream.read*", "Net.poll", "EPoll.wait", "EPollSelectorImpl.doSelect",
      "PlainSocketImpl.socketAccept", "ServerSocketChannelImpl.accept",
      "SocketChannelImpl.read", "Process.waitFor", "ProcessImpl.waitFor*",
      "ProcessHandleImpl.waitForProcessExit*", NULL};
  static const char *const natives[] = {
      "epoll_wait", "epoll_pwait", "poll", "__poll", "ppoll", "select",
      "pselect", "nanosleep", "clock_nanosleep", "__clock_nanosleep",
      "pthread_cond_wait", "pthread_cond_timedwait", "__futex_abstimed_wait_common",
      "futex_wait", "recv", "recvfrom", "read", "__libc_read", "accept",
      "accept4", NULL};
  return any_method(name, methods) || any_exact(name, natives);
}

bool pyr_cli_is_lock_frame(const char *name) {
  static const char *const methods[] = {
      "AbstractQueuedSynchronizer.acquire*",
      "AbstractQueuedLongSynchronizer.acquire*",
      "AbstractQueuedSynchronizer.tryAcquireNanos",
      "ReentrantLock.lock*", "ReentrantLock$Sync.lock*",
      "ReentrantReadWriteLock$ReadLock.lock*",
      "ReentrantReadWriteLock$WriteLock.lock*",
      "StampedLock.acquire*", "StampedLock.writeLock*", "StampedLock.readLock*",
      NULL};
  return any_method(name, methods);
}

bool pyr_cli_is_idle_frame(const char *name) {
  static const char *const methods[] = {
      "ThreadPoolExecutor.getTask", "ForkJoinPool.awaitWork",
      "ScheduledThreadPoolExecutor$DelayedWorkQueue.take",
      "LinkedBlockingQueue.take", "ArrayBlockingQueue.take",
      "LinkedBlockingDeque.take", "LinkedTransferQueue.take",
      "SynchronousQueue.take", "DelayQueue.take", "PriorityBlockingQueue.take",
      "SelectorImpl.select", "SelectorImpl.lockAndDoSelect",
      "NioEventLoop.select", "EpollEventLoop.epollWait*",
      "KQueueEventLoop.kqueueWait*", "Reference.waitForReferencePendingList",
      "Reference$ReferenceHandler.run", "ReferenceQueue.remove*",
      "Finalizer$FinalizerThread.run", "CleanerImpl.run", "TimerThread.mainLoop",
      "Thread.join", NULL};
  return any_method(name, methods);
}

bool pyr_cli_is_app_frame(const char *name) {
  static const char *const runtime[] = {
      "java/", "javax/", "jdk/", "sun/", "com/sun/", "kotlin/", "scala/",
      "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "scala.", NULL};
  if (name[0] == '[' || any_prefix(name, runtime))
    return false;
  /* A Java frame is "pkg/Class.method" or "pkg.Class.method"; bare native
   * names have neither separator. */
  return strchr(name, '/') != NULL || strchr(name, '.') != NULL;
}

/* ---- classification ---- */

static double per_s(double amount, double seconds) {
  return seconds > 0 ? amount / seconds : 0.0;
}

static double nan_max(double a, double b) {
  if (isnan(a))
    return b;
  if (isnan(b))
    return a;
  return a > b ? a : b;
}

void pyr_cli_bn_classify(const pyr_cli_bn_input *in, pyr_cli_bn_result *out) {
  double s = in->seconds;
  *out = (pyr_cli_bn_result){PYR_CLI_BOUND_NONE, NAN, NAN, NAN, NAN, NAN, NAN};
  if (in->has_cpu) {
    /* GC work is charged to allocation, not to the application's CPU. */
    out->cpu = per_s(in->cpu_ns - in->gc_cpu_ns, s) / 1e9;
    out->alloc = per_s(in->gc_cpu_ns, s) / 1e9;
    out->gc_share = in->cpu_ns > 0 ? in->gc_cpu_ns / in->cpu_ns : 0.0;
  }
  if (in->has_alloc) {
    out->alloc_rate = per_s(in->alloc_bytes, s);
    out->alloc = nan_max(out->alloc, out->alloc_rate / PYR_CLI_ALLOC_BYTES_PER_CORE);
  }
  if (in->has_lock)
    out->lock = per_s(in->lock_ns, s) / 1e9;
  if (in->has_wall) {
    out->lock = nan_max(out->lock, per_s(in->wall_lock_ns, s) / 1e9);
    out->wait = per_s(in->wait_ns, s) / 1e9;
  }
  /* The largest score wins; ties go to the earlier (cheaper to act on)
   * dimension: cpu, alloc, lock, wait. */
  const double scores[] = {out->cpu, out->alloc, out->lock, out->wait};
  const pyr_cli_bound bounds[] = {PYR_CLI_BOUND_CPU, PYR_CLI_BOUND_ALLOC,
                                  PYR_CLI_BOUND_LOCK, PYR_CLI_BOUND_WAIT};
  double best = PYR_CLI_MIN_SCORE;
  for (int i = 0; i < 4; i++)
    if (!isnan(scores[i]) && scores[i] >= best &&
        (out->bound == PYR_CLI_BOUND_NONE || scores[i] > best)) {
      best = scores[i];
      out->bound = bounds[i];
    }
}

const char *pyr_cli_bound_name(pyr_cli_bound b) {
  switch (b) {
  case PYR_CLI_BOUND_CPU: return "cpu";
  case PYR_CLI_BOUND_ALLOC: return "alloc";
  case PYR_CLI_BOUND_LOCK: return "lock";
  case PYR_CLI_BOUND_WAIT: return "wait";
  default: return "none";
  }
}

const char *pyr_cli_bound_label(pyr_cli_bound b) {
  switch (b) {
  case PYR_CLI_BOUND_CPU: return "CPU-bound";
  case PYR_CLI_BOUND_ALLOC: return "allocation/GC-bound";
  case PYR_CLI_BOUND_LOCK: return "lock-bound";
  case PYR_CLI_BOUND_WAIT: return "wait-bound";
  default: return "idle or no data";
  }
}
