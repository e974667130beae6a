package pyrite.it;

import java.util.ArrayList;
import java.util.List;

/**
 * Workload for test_agent_faults.py: code that only works if the JVM's own
 * SIGSEGV handling works, plus a computation whose result the test checks.
 *
 * <ul>
 * <li>{@code npe} threads call {@link #len(int[])} in a hot loop, with a null
 * array every other call. Once the JIT compiled {@code len}, the null case is
 * an implicit null check: the load faults (SIGSEGV) and the JVM's signal
 * handler turns the fault into a NullPointerException.</li>
 * <li>one {@code soe} thread recurses until StackOverflowError, again and
 * again: the JVM detects the overflow by stack banging into its guard zone
 * (SIGSEGV).</li>
 * <li>{@code compute} threads repeat a fixed LCG round and compare every
 * result with the first one.</li>
 * </ul>
 *
 * <p>Every thread runs until the deadline and checks its own invariants (NPEs
 * caught == null calls, sum of lengths == expected, every recursion ended in a
 * StackOverflowError, every round equal). Usage:
 * {@code JvmSignals [--seconds S] [--npe-threads N] [--compute-threads N] [--soe 0|1] [--crash-after S]}.
 * With {@code --crash-after S} the main thread reads address 8 through
 * sun.misc.Unsafe after S seconds: a real crash, which the JVM must still
 * report as its own (hs_err file, abort) with the agent's handler in front.
 * It prints one line:
 * <pre>
 * jvmsignals: done npe_calls=... npe_caught=... npe_len_sum_ok=true soe_caught=...
 *   soe_min_depth=... compute_rounds=... compute_checksum=HEX compute_mismatches=0 ok=true
 * </pre>
 */
public final class JvmSignals {
    static volatile int depthSeen;
    static final int[] ARRAY = new int[7];

    /** The implicit null check: {@code a.length} on a null array. */
    static int len(int[] a) {
        return a.length;
    }

    static int recurse(int d) {
        depthSeen = d;
        return recurse(d + 1) + 1;
    }

    /** One round: 200,000 LCG steps. The test recomputes it in Python. */
    static long round() {
        long x = 0x2545F4914F6CDD1DL;
        long acc = 0;
        for (int i = 0; i < 200_000; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            acc += (x >>> 33) ^ i;
        }
        return acc;
    }

    static final class Npe implements Runnable {
        final long deadline;
        long calls, caught, lenSum, expectedLenSum;

        Npe(long deadline) {
            this.deadline = deadline;
        }

        public void run() {
            while (System.nanoTime() < deadline) {
                for (int i = 0; i < 10_000; i++) {
                    int[] a = (i & 1) == 0 ? null : ARRAY;
                    calls++;
                    try {
                        lenSum += len(a);
                        expectedLenSum += ARRAY.length;
                    } catch (NullPointerException e) {
                        caught++;
                    }
                }
            }
        }
    }

    static final class Soe implements Runnable {
        final long deadline;
        long caught, others;
        int minDepth = Integer.MAX_VALUE;

        Soe(long deadline) {
            this.deadline = deadline;
        }

        public void run() {
            while (System.nanoTime() < deadline) {
                try {
                    recurse(0);
                    others++; // cannot happen: recursion never returns normally
                } catch (StackOverflowError e) {
                    caught++;
                    minDepth = Math.min(minDepth, depthSeen);
                }
            }
        }
    }

    static final class Compute implements Runnable {
        final long deadline;
        long rounds, mismatches, first;

        Compute(long deadline) {
            this.deadline = deadline;
        }

        public void run() {
            first = round();
            rounds = 1;
            while (System.nanoTime() < deadline) {
                if (round() != first) {
                    mismatches++;
                }
                rounds++;
            }
        }
    }

    public static void main(String[] args) throws Exception {
        double seconds = 3;
        int npeThreads = 1, computeThreads = 1;
        double crashAfter = -1;
        boolean soeOn = true;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--seconds": seconds = Double.parseDouble(args[i + 1]); break;
                case "--npe-threads": npeThreads = Integer.parseInt(args[i + 1]); break;
                case "--compute-threads": computeThreads = Integer.parseInt(args[i + 1]); break;
                case "--soe": soeOn = !args[i + 1].equals("0"); break;
                case "--crash-after": crashAfter = Double.parseDouble(args[i + 1]); break;
                default: throw new IllegalArgumentException(args[i]);
            }
        }
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        List<Thread> threads = new ArrayList<>();
        List<Npe> npes = new ArrayList<>();
        List<Compute> computes = new ArrayList<>();
        for (int i = 0; i < npeThreads; i++) {
            Npe n = new Npe(deadline);
            npes.add(n);
            threads.add(new Thread(n, "jvmsignals-npe-" + i));
        }
        Soe soe = new Soe(deadline);
        // A small stack: more overflows per second, each one a stack bang.
        if (soeOn) {
            threads.add(new Thread(null, soe, "jvmsignals-soe", 512 * 1024));
        }
        for (int i = 0; i < computeThreads; i++) {
            Compute c = new Compute(deadline);
            computes.add(c);
            threads.add(new Thread(c, "jvmsignals-compute-" + i));
        }
        for (Thread t : threads) {
            t.start();
        }
        if (crashAfter >= 0) {
            Thread.sleep((long) (crashAfter * 1000));
            System.out.println("jvmsignals: crashing now");
            System.out.flush();
            // By reflection, so javac has no internal-API warning to print.
            Class<?> k = Class.forName("sun.misc.Unsafe");
            java.lang.reflect.Field f = k.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            Object u = f.get(null);
            Object v = k.getMethod("getByte", long.class).invoke(u, 8L);
            System.out.println("jvmsignals: survived a read of address 8: " + v);
        }
        for (Thread t : threads) {
            t.join();
        }
        long calls = 0, caught = 0;
        boolean lenOk = true;
        for (Npe n : npes) {
            calls += n.calls;
            caught += n.caught;
            lenOk &= n.lenSum == n.expectedLenSum && n.caught * 2 == n.calls;
        }
        long rounds = 0, mismatches = 0;
        long checksum = computes.isEmpty() ? round() : computes.get(0).first;
        for (Compute c : computes) {
            rounds += c.rounds;
            mismatches += c.mismatches;
            if (c.first != checksum) {
                mismatches++;
            }
        }
        boolean ok = lenOk && (npeThreads == 0 || caught > 0) && (!soeOn || soe.caught > 0)
                && soe.others == 0 && mismatches == 0;
        System.out.println("jvmsignals: done npe_calls=" + calls + " npe_caught=" + caught
                + " npe_len_sum_ok=" + lenOk + " soe_caught=" + soe.caught
                + " soe_min_depth=" + (soe.caught > 0 ? soe.minDepth : -1)
                + " compute_rounds=" + rounds + " compute_checksum=" + Long.toHexString(checksum)
                + " compute_mismatches=" + mismatches + " ok=" + ok);
    }
}
