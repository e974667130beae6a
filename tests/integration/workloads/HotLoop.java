package pyrite.it;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * CPU-bound test workload: N worker threads named {@code pyrite-hot-<i>} each
 * spend almost all of their CPU time inside {@link #spin(long, long)}.
 *
 * <p>{@code spin} is entered once per thread and loops until the deadline, so the
 * JIT compiles it on-stack (OSR) and can never inline it into a caller: it is
 * always the leaf Java frame of a worker's stack. Every source line of its loop
 * carries the marker {@code HOT-LINE}; the integration tests read this file and
 * accept exactly those lines as the hot method's line numbers. Keep the marker
 * on every line inside the loop and on no other line.
 *
 * <p>Usage: {@code HotLoop [--seconds S] [--threads N] [--alloc-kb-per-s K]}
 * (defaults 4 s, 1 thread, no allocation). With {@code --alloc-kb-per-s} the
 * main thread allocates about K KiB per second in 64 KiB arrays while the
 * workers spin, so allocation profiling has a known, steady source that does
 * not depend on how much the JVM itself allocates at startup.
 * At the end it prints, to stdout, one line per worker and a summary line:
 * <pre>
 * hotloop: worker name=pyrite-hot-0 cpu_ns=... rounds=...
 * hotloop: done threads=N seconds=S worker_cpu_ns=... process_cpu_ns=... wall_ns=... checksum=...
 * </pre>
 * The CPU times come from {@link ThreadMXBean#getCurrentThreadCpuTime()} (each
 * worker measures itself just before it exits) and from the process's
 * OperatingSystemMXBean.
 */
public final class HotLoop {
    static volatile long sink;

    static final class Worker implements Runnable {
        final long seed;
        final long deadline;
        long result;
        long cpuNs;

        Worker(long seed, long deadline) {
            this.seed = seed;
            this.deadline = deadline;
        }

        @Override
        public void run() {
            ThreadMXBean tmx = ManagementFactory.getThreadMXBean();
            result = spin(seed, deadline);
            cpuNs = tmx.isCurrentThreadCpuTimeSupported() ? tmx.getCurrentThreadCpuTime() : -1;
        }
    }

    /** The hot method. Its loop runs until {@code deadline} (System.nanoTime). */
    static long spin(long seed, long deadline) {
        long x = seed * 0x9E3779B97F4A7C15L + 1;
        long rounds = 0;
        do {                                                        // HOT-LINE
            for (int i = 0; i < 200_000; i++) {                     // HOT-LINE
                x = x * 6364136223846793005L + 1442695040888963407L; // HOT-LINE
                x ^= x >>> 29;                                      // HOT-LINE
            }                                                       // HOT-LINE
            rounds++;                                               // HOT-LINE
        } while (System.nanoTime() < deadline);                     // HOT-LINE
        sink = rounds;
        return x ^ rounds;
    }

    public static void main(String[] args) throws Exception {
        double seconds = 4.0;
        int threads = 1;
        int allocKbPerS = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--alloc-kb-per-s": allocKbPerS = Integer.parseInt(args[++i]); break;
                default:
                    System.err.println("usage: HotLoop [--seconds S] [--threads N] [--alloc-kb-per-s K]");
                    System.exit(2);
            }
        }
        long wallStart = System.nanoTime();
        long deadline = wallStart + (long) (seconds * 1e9);
        Worker[] workers = new Worker[threads];
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            workers[i] = new Worker(i + 1, deadline);
            ts[i] = new Thread(workers[i], "pyrite-hot-" + i);
            ts[i].start();
        }
        long allocated = allocateUntil(deadline, allocKbPerS);
        long workerCpu = 0;
        long checksum = 0;
        for (int i = 0; i < threads; i++) {
            ts[i].join();
            workerCpu += Math.max(0, workers[i].cpuNs);
            checksum ^= workers[i].result;
            System.out.println("hotloop: worker name=" + ts[i].getName()
                    + " cpu_ns=" + workers[i].cpuNs);
        }
        long wall = System.nanoTime() - wallStart;
        System.out.println("hotloop: done threads=" + threads + " seconds=" + seconds
                + " worker_cpu_ns=" + workerCpu + " process_cpu_ns=" + processCpuNs()
                + " wall_ns=" + wall + " allocated_bytes=" + allocated
                + " checksum=" + Long.toHexString(checksum));
    }

    /** Allocates about kbPerS KiB per second (64 KiB arrays, every 10 ms) until deadline. */
    static long allocateUntil(long deadline, int kbPerS) throws InterruptedException {
        if (kbPerS <= 0) {
            return 0;
        }
        long total = 0;
        long perTick = Math.max(1, kbPerS / 100) * 1024L;
        long chunks = 0;
        while (System.nanoTime() < deadline) {
            for (long done = 0; done < perTick; done += 65536) {
                byte[] b = new byte[65536];
                b[(int) (chunks++ & 0xffff)] = 1;
                sink ^= b[0];
                total += b.length;
            }
            Thread.sleep(10);
        }
        return total;
    }

    static long processCpuNs() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
        }
        return -1;
    }
}
