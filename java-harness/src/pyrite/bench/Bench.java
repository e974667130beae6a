package pyrite.bench;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * CPU-bound overhead benchmark for Pyrite (not a test).
 *
 * <p>{@code --threads N} workers repeat one "operation" as often as they can. One
 * operation is a fixed mix of work: arithmetic, hashing (FNV-1a + CRC32 +
 * String.hashCode), collections (HashMap, ArrayList sort) and a recursion
 * {@code --depth} (default 40) frames deep that does some arithmetic at every
 * level and hashing at the bottom, so that a share of the samples have deep
 * stacks (a profiler's per-sample cost grows with depth).
 *
 * <p>After {@code --warmup W} seconds (JIT compilation, agent start-up) the
 * benchmark measures for {@code --seconds S} and prints, on one line:
 * <pre>ops=&lt;n&gt; cpu_ns=&lt;n&gt; wall_ns=&lt;n&gt; threads=.. seconds=.. warmup=.. depth=.. cpu_total_ns=.. checksum=..</pre>
 * {@code ops} are operations completed inside the measured window, {@code cpu_ns}
 * is the JVM's process CPU time (com.sun.management.OperatingSystemMXBean
 * getProcessCpuTime) spent inside that window and {@code wall_ns} its length.
 * {@code cpu_total_ns} is the process CPU time from JVM start to the end of the
 * window. The figure of merit is ops per CPU-second: a profiler's cost shows up as
 * CPU spent in its signal handler and threads, i.e. fewer ops per CPU-second,
 * even when a noisy machine gives the JVM less CPU in one run than in another.
 */
public final class Bench {
    static volatile boolean stop;

    static final class Worker extends Thread {
        final int depth;
        volatile long ops;
        long checksum;
        // per-thread state reused across operations
        final byte[] buf = new byte[2048];
        final Map<Integer, Integer> map = new HashMap<>();
        final List<Integer> list = new ArrayList<>();
        long seed;

        Worker(int index, int depth) {
            super("bench-" + index);
            this.depth = depth;
            this.seed = 0x9E3779B97F4A7C15L * (index + 1);
            setDaemon(true);
        }

        @Override
        public void run() {
            long n = 0;
            long acc = 0;
            while (!stop) {
                acc += operation();
                ops = ++n;
            }
            checksum = acc;
        }

        long operation() {
            long r = arithmetic(2_000);
            r ^= hashing();
            r += collections(64);
            r ^= recurse(depth, seed);
            return r;
        }

        long nextRandom() {
            long x = seed;
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            seed = x;
            return x;
        }

        long arithmetic(int iterations) {
            long x = nextRandom();
            double d = (x & 0xffff) + 1.0;
            for (int i = 0; i < iterations; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                d = d * 1.000001 + Math.sqrt((double) (x >>> 40));
                if ((x & 7) == 0) d = d / 3.0 + 1.0;
            }
            return x ^ (long) d;
        }

        long hashing() {
            long x = nextRandom();
            for (int i = 0; i < buf.length; i += 8) {
                x = x * 0x5DEECE66DL + 11;
                buf[i] = (byte) x;
                buf[i + 1] = (byte) (x >>> 8);
                buf[i + 2] = (byte) (x >>> 16);
                buf[i + 3] = (byte) (x >>> 24);
                buf[i + 4] = (byte) (x >>> 32);
                buf[i + 5] = (byte) (x >>> 40);
                buf[i + 6] = (byte) (x >>> 48);
                buf[i + 7] = (byte) (x >>> 56);
            }
            long h = fnv1a(buf);
            CRC32 crc = new CRC32();
            crc.update(buf, 0, buf.length);
            String s = "order-" + (h & 0xffffff) + "-" + crc.getValue();
            return h ^ crc.getValue() ^ s.hashCode();
        }

        static long fnv1a(byte[] data) {
            long h = 0xcbf29ce484222325L;
            for (byte b : data) {
                h ^= (b & 0xff);
                h *= 0x100000001b3L;
            }
            return h;
        }

        long collections(int n) {
            map.clear();
            list.clear();
            for (int i = 0; i < n; i++) {
                int k = (int) nextRandom();
                map.put(k & 1023, i);
                list.add(k);
            }
            long s = 0;
            for (int i = 0; i < n; i++) {
                Integer v = map.get(i);
                if (v != null) s += v;
            }
            Collections.sort(list);
            return s + list.get(0) + list.get(list.size() - 1);
        }

        /** Recursion `depth` frames deep; a little work on each level, hashing at the bottom. */
        long recurse(int level, long x) {
            if (level == 0) {
                return x ^ fnv1a(buf) ^ arithmetic(1_500);
            }
            x = x * 31 + level;
            x ^= x >>> 17;
            long r = recurse(level - 1, x);
            return r + (x & 0xff);
        }
    }

    static long processCpuNs() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
        }
        throw new IllegalStateException("com.sun.management.OperatingSystemMXBean not available");
    }

    static long sumOps(Worker[] ws) {
        long s = 0;
        for (Worker w : ws) s += w.ops;
        return s;
    }

    public static void main(String[] args) throws InterruptedException {
        int threads = 2;
        double seconds = 10;
        double warmup = 3;
        int depth = 40;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--warmup": warmup = Double.parseDouble(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                default:
                    System.err.println("usage: Bench [--threads N] [--seconds S] [--warmup S] [--depth D]");
                    System.exit(2);
            }
        }
        Worker[] ws = new Worker[threads];
        for (int i = 0; i < threads; i++) {
            ws[i] = new Worker(i, depth);
            ws[i].start();
        }
        Thread.sleep((long) (warmup * 1000));
        long ops0 = sumOps(ws);
        long cpu0 = processCpuNs();
        long wall0 = System.nanoTime();
        Thread.sleep((long) (seconds * 1000));
        long ops1 = sumOps(ws);
        long cpu1 = processCpuNs();
        long wall1 = System.nanoTime();
        stop = true;
        long checksum = 0;
        for (Worker w : ws) {
            w.join();
            checksum ^= w.checksum;
        }
        System.out.println("ops=" + (ops1 - ops0) + " cpu_ns=" + (cpu1 - cpu0) + " wall_ns=" + (wall1 - wall0)
                + " threads=" + threads + " seconds=" + seconds + " warmup=" + warmup + " depth=" + depth
                + " cpu_total_ns=" + cpu1 + " checksum=" + Long.toHexString(checksum));
    }
}
