package pyrite.it;

import java.lang.management.ManagementFactory;
import java.io.File;
import java.lang.management.ThreadInfo;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketException;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Workload for the wall / alloc / lock (and CPU) integration tests
 * ({@code tests/integration/test_agent_modes.py}). Each profiling mode has one
 * dominant method, so a test can check that the agent attributes that mode's
 * weight to it, and each worker thread measures the ground truth for itself
 * with {@link com.sun.management.ThreadMXBean}.
 *
 * <p>Usage: {@code ModesWorkload --mode cpu|alloc|lock|wall|all|idle --seconds S
 * [--threads T] [--lock-threads L] [--churn] [--churn-threads K] [--report-wall-cpu W]}
 *
 * <p>Worker kinds, thread names and their dominant method (all in this class):
 * <ul>
 *   <li>{@code cpu}: {@code pyrite-cpu-<i>}, {@link #hashLoop}: a hashing loop,
 *       entered once and left at the deadline.</li>
 *   <li>{@code alloc}: {@code pyrite-alloc-<i>}, {@link #formatLoop}: {@code String.format}
 *       in a loop; every result escapes into a small per-thread array so the
 *       allocations cannot be scalar-replaced.</li>
 *   <li>{@code lock}: {@code pyrite-lock-<i>}, {@link #contendedSection}: a
 *       {@code synchronized} instance method on one shared {@code ModesWorkload}
 *       object; it holds the monitor 1–4 ms ({@code Thread.sleep}) each time, then the
 *       thread parks ~0.2–0.7 ms outside it ({@link #outside}) so the monitor changes
 *       hands. With L = 4 threads a contended wait is ~0–15 ms on an idle machine, so
 *       waits on both sides of a 10 ms threshold occur.</li>
 *   <li>{@code sleep}: {@code pyrite-sleep-<i>}, {@link #sleeper}: {@code Thread.sleep(100)}
 *       in a loop.</li>
 *   <li>{@code wait}: {@code pyrite-wait-<i>}, {@link #waiter}: {@code Object.wait(100)} on a
 *       monitor of its own (never contended), in a loop.</li>
 *   <li>{@code select}: {@code pyrite-select-<i>}, {@link #selectLoop}: {@code Selector.select()}
 *       with no timeout on a pipe nobody writes to, so it blocks in {@code epoll_wait} until
 *       main wakes it at the deadline. A return before the deadline is spurious
 *       ({@code spurious=} in its thread line; a profiling signal would cause one only if
 *       the JDK did not retry EINTR, so the thread's context switches are reported too).</li>
 *   <li>{@code accept}: {@code pyrite-accept-<i>}, {@link #acceptLoop}: {@code ServerSocket.accept()}
 *       on a loopback socket nobody connects to, until main closes it at the deadline.</li>
 *   <li>{@code park}: {@code pyrite-park-<i>}, {@link #reentrantSection}: like {@code lock} but with
 *       a shared {@code ReentrantLock} (held 1–4 ms), so waiters park in
 *       {@code LockSupport.park}; {@code park_ns} is the time spent in {@code lock()}.</li>
 *   <li>{@code idle}: {@code pyrite-idle-<i>}, {@link #idler}: {@code Thread.sleep} of 1–2 s in a
 *       loop (mostly idle threads for the wall engine's cost-per-tick test).</li>
 * </ul>
 * Modes: {@code cpu} = T cpu; {@code alloc} = T alloc; {@code lock} = L lock;
 * {@code wall} = T sleep + T wait + 1 cpu (a RUNNABLE reference) + L lock (threads blocked on a
 * monitor, mostly in compiled code) + 1 select + 1 accept + 3 park; {@code all} = T of
 * cpu, alloc, sleep and wait + L lock; {@code idle} = T idle. Defaults: T = 2, L = 4.
 *
 * <p>With select or accept workers, main also prints {@code native name=.. ctxt=..}: the
 * thread's voluntary + involuntary context switches (from /proc/self/task) between 0.5 s
 * after the start and the deadline, or -1 if not found. A thread blocked in a system call
 * that nobody signals has none. With {@code --report-wall-cpu W}, main prints
 * {@code wallcpu ns=.. window_ns=..}: the CPU time (schedstat) the agent's
 * {@code pyrite-wall} thread used from W seconds after the start to the deadline.
 *
 * <p>{@code --churn} adds a driver thread ({@code pyrite-churn-driver}) that keeps K
 * (default 8) short-lived threads {@code pyrite-churn-<n>} alive until the deadline;
 * each lives 5–30 ms doing a little of everything (hashing, formatting, a short
 * synchronized section on a lock of its own class, sleeping) and exits.
 *
 * <p>At the end it prints to stdout one line per worker and one summary:
 * <pre>
 * thread name=pyrite-lock-0 kind=lock elapsed_ns=.. cpu_ns=.. alloc_bytes=.. blocked_ns=.. blocked_count=.. ops=.. park_ns=.. outside_ns=..
 * truth mode=.. seconds=.. threads=.. alloc_bytes=.. lock_blocked_ns=.. lock_blocked_count=..
 *       wall_ns_per_thread=.. churn_threads=.. contention_monitoring=.. process_cpu_ns=.. wall_ns=..
 * </pre>
 * Per worker: {@code elapsed_ns} is the wall time of its {@code run()} (System.nanoTime),
 * {@code cpu_ns} its CPU time, {@code alloc_bytes} the bytes it allocated during
 * {@code run()} (getCurrentThreadAllocatedBytes delta), {@code blocked_ns}/{@code blocked_count}
 * the time (ms resolution, × 1e6) and count of its contended monitor enters, {@code ops} for
 * select the spurious returns and for accept the connections accepted (both 0 expected),
 * {@code park_ns} / {@code outside_ns} (park workers) the time spent in {@code ReentrantLock.lock()} /
 * in {@link #outside}
 * (ThreadInfo.getBlockedTime/getBlockedCount with thread contention monitoring enabled
 * before any worker starts). In the summary, {@code alloc_bytes} sums the alloc workers,
 * {@code lock_blocked_*} sum the lock workers, {@code wall_ns_per_thread} is the median
 * elapsed time of all workers; {@code contention_monitoring=0} means blocked times are -1.
 */
public final class ModesWorkload {
    static final com.sun.management.ThreadMXBean TMX =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    static volatile boolean contentionMonitoring;
    static volatile long sink;

    /** The shared monitor of the lock workers; {@link #contendedSection} synchronizes on it. */
    static final ModesWorkload SHARED = new ModesWorkload();
    long entries;

    // ------------------------------------------------------------ dominant methods

    /** CPU: FNV-1a-style hashing of a rolling 64-bit state until the deadline. */
    static long hashLoop(long seed, long deadline) {
        long h = 0xcbf29ce484222325L ^ seed;
        long x = seed | 1;
        long rounds = 0;
        do {
            for (int i = 0; i < 100_000; i++) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                h ^= (x & 0xff);
                h *= 0x100000001b3L;
                h ^= (x >>> 8) & 0xff;
                h *= 0x100000001b3L;
            }
            rounds++;
        } while (System.nanoTime() < deadline);
        sink = rounds;
        return h;
    }

    /** Allocation: String.format in a loop until the deadline; results escape into `keep`. */
    static long formatLoop(long seed, long deadline, Object[] keep) {
        long n = 0;
        long x = seed | 1;
        do {
            for (int i = 0; i < 64; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                String s = String.format("item-%d-%08x-%s-%.3f", n, x >>> 32, "pyrite", (x & 0xffff) / 7.0);
                keep[(int) (n & (keep.length - 1))] = s;
                n++;
            }
        } while (System.nanoTime() < deadline);
        return n;
    }

    /** Lock: the contended monitor. Holds it for `holdMs` ms. */
    synchronized void contendedSection(int holdMs) throws InterruptedException {
        entries++;
        Thread.sleep(holdMs);
    }

    /**
     * Lock workers' pause outside the monitor (0.2–0.7 ms parked), so that a waiting
     * thread gets it instead of the releasing thread barging back in. Parking, not
     * spinning, leaves the CPU to the woken successor. Its share of a lock worker's wall
     * time stays small: with 4 workers it is at most ~1/8 even when wake-ups are slow,
     * because the holder's Thread.sleep wakes up just as late.
     */
    static void outside(Random rnd) {
        LockSupport.parkNanos(200_000 + rnd.nextInt(500_000));
    }

    /** Wall: sleeps in 100 ms steps until the deadline. */
    static long sleeper(long deadline) throws InterruptedException {
        long n = 0;
        for (;;) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return n;
            Thread.sleep(Math.min(100, left));
            n++;
        }
    }

    /** Wall: mostly idle; sleeps 1–2 s at a time until the deadline. */
    static long idler(Random rnd, long deadline) throws InterruptedException {
        long n = 0;
        for (;;) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return n;
            Thread.sleep(Math.min(1000 + rnd.nextInt(1000), left));
            n++;
        }
    }

    /** Selectors and server sockets main wakes or closes at the deadline. */
    static final List<Selector> SELECTORS = new CopyOnWriteArrayList<>();
    static final List<ServerSocket> SERVERS = new CopyOnWriteArrayList<>();
    static volatile boolean released;

    /**
     * Wall: blocks in Selector.select() (epoll_wait, no timeout) on a pipe nobody writes to.
     * Returns the number of spurious returns (zero keys before main's wakeup).
     */
    static long selectLoop() throws Exception {
        long spurious = 0;
        Pipe pipe = Pipe.open();
        try (Selector sel = Selector.open()) {
            pipe.source().configureBlocking(false);
            pipe.source().register(sel, SelectionKey.OP_READ);
            SELECTORS.add(sel);
            for (;;) {
                int n = sel.select();
                if (released) return spurious;
                if (n == 0) spurious++;
            }
        } finally {
            pipe.source().close();
            pipe.sink().close();
        }
    }

    /** Wall: blocks in ServerSocket.accept() until main closes the socket; returns accepts. */
    static long acceptLoop() throws Exception {
        long accepted = 0;
        ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        SERVERS.add(ss);
        try {
            for (;;) {
                ss.accept().close();
                accepted++;
            }
        } catch (SocketException e) {
            if (!released) throw e;
            return accepted;
        }
    }

    /** The j.u.c lock of the park workers. */
    static final ReentrantLock RLOCK = new ReentrantLock();

    /** Park: takes the shared ReentrantLock (parking while it is held) and holds it `holdMs` ms. */
    static long reentrantSection(int holdMs) throws InterruptedException {
        long t0 = System.nanoTime();
        RLOCK.lock();
        long waited = System.nanoTime() - t0;
        try {
            Thread.sleep(holdMs);
        } finally {
            RLOCK.unlock();
        }
        return waited;
    }

    /** Voluntary + involuntary context switches of each thread by name (first 15 chars). */
    static Map<String, Long> contextSwitches() {
        Map<String, Long> out = new HashMap<>();
        File[] tasks = new File("/proc/self/task").listFiles();
        if (tasks == null) return out;
        for (File t : tasks) {
            try {
                String comm = new String(Files.readAllBytes(new File(t, "comm").toPath())).trim();
                long n = 0;
                for (String line : Files.readAllLines(new File(t, "status").toPath())) {
                    if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                        n += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                    }
                }
                out.put(comm, n);
            } catch (Exception e) {
                // the thread exited meanwhile
            }
        }
        return out;
    }

    /** CPU time (ns, /proc schedstat) of the agent's wall thread, or -1. */
    static long wallThreadCpuNs() {
        File[] tasks = new File("/proc/self/task").listFiles();
        if (tasks == null) return -1;
        for (File t : tasks) {
            try {
                String comm = new String(Files.readAllBytes(new File(t, "comm").toPath())).trim();
                if (comm.equals("pyrite-wall")) {
                    String st = new String(Files.readAllBytes(new File(t, "schedstat").toPath())).trim();
                    return Long.parseLong(st.split(" ")[0]);
                }
            } catch (Exception e) {
                // gone
            }
        }
        return -1;
    }

    /** Wall: Object.wait in 100 ms steps on a monitor nobody else uses. */
    static long waiter(Object mon, long deadline) throws InterruptedException {
        long n = 0;
        synchronized (mon) {
            for (;;) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) return n;
                mon.wait(Math.min(100, left));
                n++;
            }
        }
    }

    // ------------------------------------------------------------------ workers

    static final class Worker extends Thread {
        final String kind;
        final long deadline;
        final long seed;
        long elapsedNs, cpuNs, allocBytes = -1, blockedNs = -1, blockedCount = -1, ops, parkNs, outsideNs;
        Throwable failure;

        Worker(String kind, int index, long deadline) {
            super("pyrite-" + kind + "-" + index);
            this.kind = kind;
            this.deadline = deadline;
            this.seed = 0x9E3779B97F4A7C15L * (index + 1) + kind.hashCode();
        }

        @Override
        public void run() {
            long t0 = System.nanoTime();
            long a0 = TMX.getCurrentThreadAllocatedBytes();
            try {
                ops = body();
            } catch (Throwable t) {
                failure = t;
            }
            long a1 = TMX.getCurrentThreadAllocatedBytes();
            elapsedNs = System.nanoTime() - t0;
            cpuNs = TMX.getCurrentThreadCpuTime();
            allocBytes = (a0 >= 0 && a1 >= 0) ? a1 - a0 : -1;
            if (contentionMonitoring) {
                ThreadInfo ti = TMX.getThreadInfo(getId());
                if (ti != null) {
                    blockedNs = ti.getBlockedTime() * 1_000_000L;
                    blockedCount = ti.getBlockedCount();
                }
            }
        }

        long body() throws InterruptedException {
            switch (kind) {
                case "cpu":
                    return hashLoop(seed, deadline) & 0xff;
                case "alloc":
                    return formatLoop(seed, deadline, new Object[64]);
                case "lock": {
                    Random rnd = new Random(seed);
                    long n = 0;
                    while (System.nanoTime() < deadline) {
                        SHARED.contendedSection(1 + rnd.nextInt(4));
                        outside(rnd);
                        n++;
                    }
                    return n;
                }
                case "sleep":
                    return sleeper(deadline);
                case "wait":
                    return waiter(new Object(), deadline);
                case "idle":
                    return idler(new Random(seed), deadline);
                case "select":
                    try {
                        return selectLoop();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                case "accept":
                    try {
                        return acceptLoop();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                case "park": {
                    Random rnd = new Random(seed);
                    long n = 0;
                    while (System.nanoTime() < deadline) {
                        parkNs += reentrantSection(1 + rnd.nextInt(4));
                        long t0 = System.nanoTime();
                        outside(rnd);
                        outsideNs += System.nanoTime() - t0;
                        n++;
                    }
                    return n;
                }
                default:
                    throw new IllegalArgumentException(kind);
            }
        }
    }

    // -------------------------------------------------------------------- churn

    /** A lock of its own class for the churn threads' short synchronized sections. */
    static final class ChurnLock {
        long n;

        synchronized void touch(Random rnd) {
            n++;
            long until = System.nanoTime() + rnd.nextInt(300_000);
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
        }
    }

    static final ChurnLock CHURN_LOCK = new ChurnLock();

    /** One short-lived thread's life: 5–30 ms of mixed activity. */
    static void churnLife(long seed) {
        Random rnd = new Random(seed);
        long end = System.nanoTime() + 5_000_000L + rnd.nextInt(25_000_000);
        Object[] keep = new Object[8];
        while (System.nanoTime() < end) {
            switch (rnd.nextInt(4)) {
                case 0: sink += hashLoop(seed, System.nanoTime() + 1_000_000L); break;
                case 1: formatLoop(seed, System.nanoTime() + 1_000_000L, keep); break;
                case 2: CHURN_LOCK.touch(rnd); break;
                default: LockSupport.parkNanos(1_000_000L + rnd.nextInt(2_000_000));
            }
        }
    }

    static final class ChurnDriver extends Thread {
        final long deadline;
        final int concurrency;
        long started;
        Throwable failure;

        ChurnDriver(long deadline, int concurrency) {
            super("pyrite-churn-driver");
            this.deadline = deadline;
            this.concurrency = concurrency;
        }

        @Override
        public void run() {
            try {
                List<Thread> live = new ArrayList<>();
                while (System.nanoTime() < deadline) {
                    while (live.size() < concurrency) {
                        final long seed = started;
                        Thread t = new Thread(() -> churnLife(seed), "pyrite-churn-" + started);
                        t.start();
                        live.add(t);
                        started++;
                    }
                    Thread first = live.remove(0);
                    first.join();
                }
                for (Thread t : live) t.join();
            } catch (Throwable t) {
                failure = t;
            }
        }
    }

    // --------------------------------------------------------------------- main

    static long processCpuNs() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
        }
        return -1;
    }

    static void usage() {
        System.err.println("usage: ModesWorkload --mode cpu|alloc|lock|wall|all|idle --seconds S [--threads T]"
                + " [--lock-threads L] [--churn] [--churn-threads K] [--report-wall-cpu W]");
        System.exit(2);
    }

    public static void main(String[] args) throws Exception {
        String mode = null;
        double seconds = 4;
        int threads = 2;
        int lockThreads = 4;
        boolean churn = false;
        int churnThreads = 8;
        double reportWallCpu = -1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--mode": mode = args[++i]; break;
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--lock-threads": lockThreads = Integer.parseInt(args[++i]); break;
                case "--churn": churn = true; break;
                case "--churn-threads": churnThreads = Integer.parseInt(args[++i]); break;
                case "--report-wall-cpu": reportWallCpu = Double.parseDouble(args[++i]); break;
                default: usage();
            }
        }
        if (mode == null || threads < 1 || lockThreads < 2) usage();
        List<String> kinds = new ArrayList<>();
        switch (mode) {
            case "cpu": add(kinds, "cpu", threads); break;
            case "alloc": add(kinds, "alloc", threads); break;
            case "lock": add(kinds, "lock", lockThreads); break;
            case "wall":
                add(kinds, "sleep", threads); add(kinds, "wait", threads); add(kinds, "cpu", 1);
                add(kinds, "lock", lockThreads);
                add(kinds, "select", 1); add(kinds, "accept", 1); add(kinds, "park", 3);
                break;
            case "idle": add(kinds, "idle", threads); break;
            case "all":
                add(kinds, "cpu", threads); add(kinds, "alloc", threads); add(kinds, "lock", lockThreads);
                add(kinds, "sleep", threads); add(kinds, "wait", threads);
                break;
            default: usage();
        }

        if (TMX.isThreadContentionMonitoringSupported()) {
            TMX.setThreadContentionMonitoringEnabled(true);
            contentionMonitoring = TMX.isThreadContentionMonitoringEnabled();
        }
        if (TMX.isThreadAllocatedMemorySupported() && !TMX.isThreadAllocatedMemoryEnabled()) {
            TMX.setThreadAllocatedMemoryEnabled(true);
        }

        long wallStart = System.nanoTime();
        long deadline = wallStart + (long) (seconds * 1e9);
        List<Worker> workers = new ArrayList<>();
        java.util.Map<String, Integer> index = new java.util.HashMap<>();
        for (String k : kinds) {
            int i = index.merge(k, 1, Integer::sum) - 1;
            workers.add(new Worker(k, i, deadline));
        }
        for (Worker w : workers) w.start();
        ChurnDriver driver = churn ? new ChurnDriver(deadline, churnThreads) : null;
        if (driver != null) driver.start();
        boolean blocking = kinds.contains("select") || kinds.contains("accept");
        if (blocking || reportWallCpu >= 0) {
            long warm = wallStart + (long) (Math.max(0.5, reportWallCpu) * 1e9);
            sleepUntil(warm);
            Map<String, Long> ctxt0 = contextSwitches();
            long wcpu0 = wallThreadCpuNs();
            long t0 = System.nanoTime();
            sleepUntil(deadline);
            Map<String, Long> ctxt1 = contextSwitches();
            long wcpu1 = wallThreadCpuNs();
            if (reportWallCpu >= 0) {
                System.out.println("wallcpu ns=" + (wcpu0 >= 0 && wcpu1 >= 0 ? wcpu1 - wcpu0 : -1)
                        + " window_ns=" + (System.nanoTime() - t0));
            }
            for (Worker w : workers) {
                if (w.kind.equals("select") || w.kind.equals("accept")) {
                    String comm = w.getName().length() > 15 ? w.getName().substring(0, 15) : w.getName();
                    Long a = ctxt0.get(comm), b = ctxt1.get(comm);
                    System.out.println("native name=" + w.getName() + " ctxt=" + (a != null && b != null ? b - a : -1));
                }
            }
            released = true;
            for (Selector sel : SELECTORS) sel.wakeup();
            for (ServerSocket ss : SERVERS) ss.close();
        }
        for (Worker w : workers) w.join();
        if (driver != null) driver.join();
        long wall = System.nanoTime() - wallStart;

        long allocBytes = 0, lockBlockedNs = 0, lockBlockedCount = 0;
        long[] elapsed = new long[workers.size()];
        int failures = 0;
        for (int i = 0; i < workers.size(); i++) {
            Worker w = workers.get(i);
            elapsed[i] = w.elapsedNs;
            if (w.failure != null) {
                failures++;
                System.err.println("worker " + w.getName() + " failed: " + w.failure);
            }
            if (w.kind.equals("alloc")) allocBytes += w.allocBytes;
            if (w.kind.equals("lock")) {
                lockBlockedNs += w.blockedNs;
                lockBlockedCount += w.blockedCount;
            }
            System.out.println("thread name=" + w.getName() + " kind=" + w.kind + " elapsed_ns=" + w.elapsedNs
                    + " cpu_ns=" + w.cpuNs + " alloc_bytes=" + w.allocBytes + " blocked_ns=" + w.blockedNs
                    + " blocked_count=" + w.blockedCount + " ops=" + w.ops + " park_ns=" + w.parkNs
                    + " outside_ns=" + w.outsideNs);
        }
        if (driver != null && driver.failure != null) {
            failures++;
            System.err.println("churn driver failed: " + driver.failure);
        }
        java.util.Arrays.sort(elapsed);
        System.out.println("truth mode=" + mode + " seconds=" + seconds + " threads=" + workers.size()
                + " alloc_bytes=" + allocBytes + " lock_blocked_ns=" + lockBlockedNs
                + " lock_blocked_count=" + lockBlockedCount
                + " wall_ns_per_thread=" + elapsed[elapsed.length / 2]
                + " churn_threads=" + (driver != null ? driver.started : 0)
                + " contention_monitoring=" + (contentionMonitoring ? 1 : 0)
                + " failures=" + failures
                + " process_cpu_ns=" + processCpuNs() + " wall_ns=" + wall);
        if (failures > 0) System.exit(1);
    }

    static void sleepUntil(long t) throws InterruptedException {
        for (long left; (left = t - System.nanoTime()) > 0; ) {
            Thread.sleep(Math.max(1, left / 1_000_000));
        }
    }

    static void add(List<String> kinds, String kind, int n) {
        for (int i = 0; i < n; i++) kinds.add(kind);
    }
}
