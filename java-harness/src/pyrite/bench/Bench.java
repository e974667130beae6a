package pyrite.bench;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.CRC32;

/**
 * CPU-bound overhead benchmark for Pyrite (not a test).
 *
 * <p>{@code --threads N} workers repeat one "operation" as often as they can. One
 * operation is a fixed mix of work: arithmetic, hashing (FNV-1a + CRC32 +
 * String.hashCode), collections (HashMap, ArrayList sort), a recursion
 * {@code --depth} (default 40) frames deep that does some arithmetic at every
 * level and hashing at the bottom, so that a share of the samples have deep
 * stacks (a profiler's per-sample cost grows with depth). The operation already
 * allocates about 4 KiB on the heap (boxed Integers kept in the map and the list,
 * the string concatenation, the CRC32): about 250 MB per CPU-second, a realistic
 * rate for allocation sampling to work on. {@code --alloc-kb K} (default 0) adds
 * about K KiB more per operation (byte arrays, strings, boxed longs and small
 * holder arrays, kept in a 256-slot ring so they escape and die young); the
 * default keeps the operation, and so the ops figures, as they were before issue 5.
 *
 * <p>{@code --idle-threads M} (default 0) adds M mostly idle threads: each blocks in
 * {@code LockSupport.parkNanos} (even ones) or {@code Thread.sleep} (odd ones) for a
 * random 0.5–2 s, does a few microseconds of work, and blocks again. They model
 * the pools of a server that wait for work, the case where wall-clock sampling
 * must not signal idle threads over and over.
 *
 * <p>{@code --contend} (lock-heavy workload) makes every operation also take shared
 * monitors: 64 times per operation a worker enters one of 4 shared objects and does a
 * little arithmetic inside, so with more workers than cores the monitors are contended;
 * every 256th operation a worker holds its monitor for 12 ms (sleeping inside it), so
 * some waits exceed a 10 ms lock threshold, as a slow critical section in a service does.
 *
 * <p>{@code --rate R} (default 0 = as fast as possible) paces each worker at R operations
 * per second (parking between them): with {@code --idle-threads} this makes the "mostly
 * idle" workload, where ops per CPU-second shows what a profiler costs a quiet JVM.
 *
 * <p>{@code --wait-stdin}: after printing the result line, wait for a line (or EOF) on
 * standard input before exiting, so a harness can read /proc/&lt;pid&gt; (peak RSS, the
 * profiler threads' CPU time) while the JVM and its agent are still alive.
 *
 * <p>After {@code --warmup W} seconds (JIT compilation, agent start-up) the
 * benchmark measures for {@code --seconds S} and prints, on one line:
 * <pre>ops=&lt;n&gt; cpu_ns=&lt;n&gt; wall_ns=&lt;n&gt; alloc_bytes=&lt;n&gt; threads=.. seconds=.. warmup=.. depth=.. alloc_kb=..
 *     idle_threads=.. idle_wakeups=.. cpu_total_ns=.. checksum=..</pre>
 * {@code ops} are operations completed inside the measured window, {@code cpu_ns}
 * is the JVM's process CPU time (com.sun.management.OperatingSystemMXBean
 * getProcessCpuTime) spent inside that window and {@code wall_ns} its length.
 * {@code cpu_total_ns} is the process CPU time from JVM start to the end of the
 * window. {@code alloc_bytes} is what the workers allocated inside the window
 * (com.sun.management.ThreadMXBean getThreadAllocatedBytes);
 * {@code idle_wakeups} counts the idle threads' wake-ups over the whole run.
 * The figure of merit is ops per CPU-second: a profiler's cost shows up as
 * CPU spent in its signal handler and threads, i.e. fewer ops per CPU-second,
 * even when a noisy machine gives the JVM less CPU in one run than in another.
 */
public final class Bench {
    static volatile boolean stop;
    static final Object[] LOCKS = {new Object(), new Object(), new Object(), new Object()};
    static final long[] SHARED_COUNTER = new long[1];

    static final class Worker extends Thread {
        final int depth;
        final int allocKb;
        final boolean contend;
        final long periodNs;
        volatile long ops;
        long checksum;
        // per-thread state reused across operations
        final byte[] buf = new byte[2048];
        final Map<Integer, Integer> map = new HashMap<>();
        final List<Integer> list = new ArrayList<>();
        final Object[] ring = new Object[256];
        int ringPos;
        long seed;

        Worker(int index, int depth, int allocKb, boolean contend, double rate) {
            super("bench-" + index);
            this.depth = depth;
            this.allocKb = allocKb;
            this.contend = contend;
            this.periodNs = rate > 0 ? (long) (1e9 / rate) : 0;
            this.seed = 0x9E3779B97F4A7C15L * (index + 1);
            setDaemon(true);
        }

        @Override
        public void run() {
            long n = 0;
            long acc = 0;
            long next = System.nanoTime();
            while (!stop) {
                acc += operation();
                ops = ++n;
                if (periodNs > 0) {
                    // Fixed schedule; if we fall behind, do not burst to catch up.
                    next = Math.max(next + periodNs, System.nanoTime() - periodNs);
                    long wait = next - System.nanoTime();
                    if (wait > 0) LockSupport.parkNanos(wait);
                }
            }
            checksum = acc;
        }

        long operation() {
            long r = arithmetic(2_000);
            r ^= hashing();
            r += collections(64);
            r ^= recurse(depth, seed);
            if (allocKb > 0) r += allocating(allocKb * 1024);
            if (contend) r += locking();
            return r;
        }

        long lockOps;

        /** 64 short critical sections on shared monitors; rarely a 12 ms one. */
        long locking() {
            long r = 0;
            for (int i = 0; i < 64; i++) {
                Object m = LOCKS[(int) ((seed >>> 7) + i) & (LOCKS.length - 1)];
                synchronized (m) {
                    r += arithmetic(40);
                    SHARED_COUNTER[0]++;
                }
            }
            if ((++lockOps & 255) == 0) {
                synchronized (LOCKS[(int) lockOps & (LOCKS.length - 1)]) {
                    try {
                        Thread.sleep(12);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
            return r;
        }

        /**
         * About `bytes` bytes of short-lived objects: each round allocates a byte[]
         * of 64..575 bytes, a String, a boxed Long and an Object[3] holding them
         * (~500 bytes with headers), and parks the holder in a 256-slot ring, so
         * escape analysis cannot remove the allocations and they die young.
         */
        long allocating(int bytes) {
            long r = 0;
            int done = 0;
            while (done < bytes) {
                long x = nextRandom();
                byte[] b = new byte[64 + (int) (x & 511)];
                b[0] = (byte) x;
                String s = Long.toString(x >>> 20, 36);
                Long boxed = x;
                Object[] holder = {b, s, boxed};
                ring[ringPos++ & 255] = holder;
                r += b.length + s.length();
                done += b.length + 16 + 24 + 16 + s.length() + 16 + 24 + 16;
            }
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

    static final com.sun.management.ThreadMXBean TMX =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Bytes allocated so far by the workers, or -1 if the JVM cannot tell. */
    static long sumAllocated(Worker[] ws) {
        long s = 0;
        for (Worker w : ws) {
            long a = TMX.getThreadAllocatedBytes(w.getId());
            if (a < 0) return -1;
            s += a;
        }
        return s;
    }

    static final java.util.concurrent.atomic.AtomicLong IDLE_WAKEUPS = new java.util.concurrent.atomic.AtomicLong();

    /** A mostly idle thread: blocks 0.5–2 s at a time, then does a few microseconds of work. */
    static final class Idle extends Thread {
        final boolean park;

        Idle(int index) {
            super("bench-idle-" + index);
            this.park = index % 2 == 0;
            setDaemon(true);
        }

        @Override
        public void run() {
            long x = getId();
            while (!stop) {
                long ms = 500 + ThreadLocalRandom.current().nextInt(1500);
                if (park) {
                    LockSupport.parkNanos(ms * 1_000_000L);
                } else {
                    try {
                        Thread.sleep(ms);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                for (int i = 0; i < 1000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
                IDLE_WAKEUPS.incrementAndGet();
            }
            if (x == 42) System.out.print("");
        }
    }

    public static void main(String[] args) throws InterruptedException, java.io.IOException {
        int threads = 2;
        double seconds = 10;
        double warmup = 3;
        int depth = 40;
        int allocKb = 0;
        int idleThreads = 0;
        boolean contend = false;
        double rate = 0;
        boolean waitStdin = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--warmup": warmup = Double.parseDouble(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                case "--alloc-kb": allocKb = Integer.parseInt(args[++i]); break;
                case "--idle-threads": idleThreads = Integer.parseInt(args[++i]); break;
                case "--contend": contend = true; break;
                case "--rate": rate = Double.parseDouble(args[++i]); break;
                case "--wait-stdin": waitStdin = true; break;
                default:
                    System.err.println("usage: Bench [--threads N] [--seconds S] [--warmup S] [--depth D]"
                            + " [--alloc-kb K] [--idle-threads M] [--contend] [--rate R] [--wait-stdin]");
                    System.exit(2);
            }
        }
        for (int i = 0; i < idleThreads; i++) {
            new Idle(i).start();
        }
        Worker[] ws = new Worker[threads];
        for (int i = 0; i < threads; i++) {
            ws[i] = new Worker(i, depth, allocKb, contend, rate);
            ws[i].start();
        }
        Thread.sleep((long) (warmup * 1000));
        long ops0 = sumOps(ws);
        long alloc0 = sumAllocated(ws);
        long cpu0 = processCpuNs();
        long wall0 = System.nanoTime();
        Thread.sleep((long) (seconds * 1000));
        long ops1 = sumOps(ws);
        long alloc1 = sumAllocated(ws);
        long cpu1 = processCpuNs();
        long wall1 = System.nanoTime();
        stop = true;
        long checksum = 0;
        for (Worker w : ws) {
            w.join();
            checksum ^= w.checksum;
        }
        long allocBytes = (alloc0 >= 0 && alloc1 >= 0) ? alloc1 - alloc0 : -1;
        System.out.println("ops=" + (ops1 - ops0) + " cpu_ns=" + (cpu1 - cpu0) + " wall_ns=" + (wall1 - wall0)
                + " alloc_bytes=" + allocBytes
                + " threads=" + threads + " seconds=" + seconds + " warmup=" + warmup + " depth=" + depth
                + " alloc_kb=" + allocKb + " idle_threads=" + idleThreads + " idle_wakeups=" + IDLE_WAKEUPS.get()
                + " contend=" + contend + " rate=" + rate
                + " cpu_total_ns=" + cpu1 + " checksum=" + Long.toHexString(checksum));
        System.out.flush();
        if (waitStdin) {
            // The harness samples /proc/<pid> now, then writes a line (or closes stdin).
            System.in.read();
        }
    }
}
