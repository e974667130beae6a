/*
 * Labels.java - dynamic labels for the Pyrite profiler agent.
 *
 * Code run inside a labels scope is profiled under those labels: every CPU,
 * wall, allocation and lock sample the agent takes on this thread while the
 * scope is open carries them, and Pyroscope/Grafana show one series per
 * distinct label set (filter with {route="/pay"}).
 *
 *   try (Labels.Scope s = Labels.with("route", "/pay")) { handle(); }
 *   Labels.run(Map.of("route", "/pay"), () -> handle());
 *   int n = Labels.call(Map.of("route", "/pay"), () -> count());
 *
 * Semantics: scopes nest and merge (the inner value wins for a key given
 * twice); leaving a scope restores exactly the labels that were current when
 * it was entered.  The labels belong to the thread that opened the scope.
 *
 * Each distinct label set is interned once to a process-wide context id
 * (1, 2, ...; at most MAX_LABEL_SETS sets, beyond that a new set is profiled
 * without labels and counted in overflowCount()) and registered with the
 * agent; entering or leaving a scope then costs one map lookup and one
 * native call that stores the id in the thread's slot.
 *
 * Without the agent (no -agentpath) the first native call fails with
 * UnsatisfiedLinkError, caught once: the API then only keeps the Java-side
 * bookkeeping (current() still works) and never calls native code again,
 * so applications run unchanged.  Plain Java 11, no dependencies.
 */
package pyrite;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

public final class Labels {
  /** Most distinct label sets per process; the agent's table has the same bound. */
  public static final int MAX_LABEL_SETS = 10_000;

  private static final ConcurrentHashMap<Map<String, String>, Long> IDS = new ConcurrentHashMap<>();
  private static final AtomicLong NEXT_ID = new AtomicLong(1);
  private static final AtomicLong OVERFLOW = new AtomicLong();
  private static final Ctx NONE = new Ctx(Collections.emptyMap(), 0);
  private static final ThreadLocal<Ctx> CURRENT = ThreadLocal.withInitial(() -> NONE);
  /** true while the agent's native methods are reachable; cleared for good on the first failure. */
  private static volatile boolean nativeOk = true;

  private Labels() {}

  /** A label set and its context id (0 = no labels). */
  private static final class Ctx {
    final Map<String, String> labels; // sorted, unmodifiable
    final long id;

    Ctx(Map<String, String> labels, long id) {
      this.labels = labels;
      this.id = id;
    }
  }

  /** An open labels scope; close() restores the labels current when it was opened. */
  public static final class Scope implements AutoCloseable {
    private final Ctx previous;
    private boolean closed;

    private Scope(Ctx previous) {
      this.previous = previous;
    }

    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      enter(previous);
    }
  }

  /** Opens a scope adding one label. */
  public static Scope with(String key, String value) {
    return with(Collections.singletonMap(Objects.requireNonNull(key, "key"), value));
  }

  /** Opens a scope adding these labels (a null value removes the key for the scope). */
  public static Scope with(Map<String, String> labels) {
    Ctx prev = CURRENT.get();
    enter(merge(prev, labels));
    return new Scope(prev);
  }

  /** Runs r with these labels added. */
  public static void run(Map<String, String> labels, Runnable r) {
    Scope s = with(labels);
    try {
      r.run();
    } finally {
      s.close();
    }
  }

  /** Calls c with these labels added and returns its result. */
  public static <T> T call(Map<String, String> labels, Callable<T> c) throws Exception {
    Scope s = with(labels);
    try {
      return c.call();
    } finally {
      s.close();
    }
  }

  /** The labels current on this thread (sorted, unmodifiable). */
  public static Map<String, String> current() {
    return CURRENT.get().labels;
  }

  /** Distinct label sets not given a context id because MAX_LABEL_SETS was reached. */
  public static long overflowCount() {
    return OVERFLOW.get();
  }

  /** Whether the profiler agent's native methods are available (checked on first use). */
  public static boolean agentPresent() {
    if (nativeOk) {
      setContextSafe(CURRENT.get().id);
    }
    return nativeOk;
  }

  private static Ctx merge(Ctx prev, Map<String, String> add) {
    if (add == null || add.isEmpty()) {
      return prev;
    }
    TreeMap<String, String> m = new TreeMap<>(prev.labels);
    for (Map.Entry<String, String> e : add.entrySet()) {
      String k = Objects.requireNonNull(e.getKey(), "label key");
      if (e.getValue() == null) {
        m.remove(k);
      } else {
        m.put(k, e.getValue());
      }
    }
    if (m.equals(prev.labels)) {
      return prev;
    }
    Map<String, String> labels = Collections.unmodifiableMap(m);
    return new Ctx(labels, idOf(labels));
  }

  private static long idOf(Map<String, String> labels) {
    if (labels.isEmpty()) {
      return 0;
    }
    Long id = IDS.get(labels);
    if (id != null) {
      return id;
    }
    synchronized (IDS) {
      id = IDS.get(labels);
      if (id != null) {
        return id;
      }
      if (IDS.size() >= MAX_LABEL_SETS) {
        OVERFLOW.incrementAndGet();
        return 0;
      }
      long fresh = NEXT_ID.getAndIncrement();
      register(fresh, labels); // before publishing: samples may carry the id at once
      IDS.put(labels, fresh);
      return fresh;
    }
  }

  private static void enter(Ctx c) {
    CURRENT.set(c);
    setContextSafe(c.id);
  }

  private static void setContextSafe(long id) {
    if (!nativeOk) {
      return;
    }
    try {
      setContext0(id);
    } catch (UnsatisfiedLinkError e) {
      nativeOk = false; // no agent: a no-op from now on
    }
  }

  private static void register(long id, Map<String, String> labels) {
    if (!nativeOk) {
      return;
    }
    String[] kv = new String[labels.size() * 2];
    int i = 0;
    for (Map.Entry<String, String> e : labels.entrySet()) {
      kv[i++] = e.getKey();
      kv[i++] = e.getValue();
    }
    try {
      register0(id, kv); // a refused set (invalid or table full) is counted by the agent
    } catch (UnsatisfiedLinkError e) {
      nativeOk = false;
    }
  }

  private static native void setContext0(long id);

  private static native int register0(long id, String[] keysAndValues);
}
