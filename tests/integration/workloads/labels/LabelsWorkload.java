/*
 * LabelsWorkload - dynamic labels end to end (tests/integration/test_agent_labels.py).
 *
 * Compiled on its own against pyrite-api.jar (it lives outside workloads/'s
 * top level so the other tests' bulk javac does not need the jar).
 *
 * The main thread alternates ~5 ms slices: hotA under route=a (via
 * Labels.run), hotB under route=b (via a try-with-resources scope, nested in
 * an outer tier=web scope) and hotNone outside any scope.  A second thread
 * sleeps inside route=sleep, for wall samples of a thread that is never
 * signalled.  Prints a few "labels-check" lines about the Java-side
 * semantics (merge, restore) and agentPresent.
 *
 * Usage: LabelsWorkload SECONDS
 */
package pyrite.it;

import java.util.Map;
import pyrite.Labels;

public class LabelsWorkload {
  static volatile long sink;

  static long spin(long seed, long nanos) {
    long end = System.nanoTime() + nanos, x = seed;
    while (System.nanoTime() < end) {
      for (int i = 0; i < 2000; i++) {
        x = x * 6364136223846793005L + 1442695040888963407L;
      }
    }
    return x;
  }

  static long hotA(long nanos) { return spin(1, nanos); }

  static long hotB(long nanos) { return spin(2, nanos); }

  static long hotNone(long nanos) { return spin(3, nanos); }

  public static void main(String[] args) throws Exception {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 5;
    final long slice = 5_000_000L;

    try (Labels.Scope outer = Labels.with("tier", "web")) {
      try (Labels.Scope inner = Labels.with(Map.of("route", "b", "tier", "api"))) {
        System.out.println("labels-check inner=" + Labels.current());
      }
      System.out.println("labels-check outer=" + Labels.current());
    }
    System.out.println("labels-check after=" + Labels.current());
    System.out.println("labels-check agent=" + Labels.agentPresent());

    Thread sleeper = new Thread(() -> Labels.run(Map.of("route", "sleep"), () -> {
      try {
        Thread.sleep((long) (seconds * 1000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }), "labels-sleeper");
    sleeper.setDaemon(true);
    sleeper.start();

    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    long rounds = 0;
    while (System.nanoTime() < deadline) {
      Labels.run(Map.of("route", "a"), () -> sink += hotA(slice));
      try (Labels.Scope s = Labels.with("route", "b")) {
        sink += hotB(slice);
      }
      sink += hotNone(slice);
      rounds++;
    }
    System.out.println("labels-check rounds=" + rounds + " overflow=" + Labels.overflowCount());
  }
}
