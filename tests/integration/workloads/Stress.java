package pyrite.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ClassLoadingMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.LongUnaryOperator;

/**
 * Workload of the agent stress suite ({@code tests/integration/test_agent_stress.py}):
 * one JVM runs every kind of activity that is hard on a sampling profiler at once, each
 * in its own driver thread, until the deadline.
 *
 * <p>Usage: {@code Stress --seconds S [--jni /path/libstress_jni.so] [--vthreads]
 * [--depth D]}
 *
 * <p>Components (driver thread {@code stress-<name>}):
 * <ul>
 *   <li>{@code threads0}, {@code threads1}: start {@link #CHURN_BATCH} platform threads,
 *       each hashes a little and exits; join; again.</li>
 *   <li>{@code classes}: define {@link StressPlugin} and its nested classes from bytes in
 *       {@link #LOADERS_PER_EPOCH} fresh class loaders, run them (JIT, class-hierarchy
 *       deoptimisation, uncommon traps, exceptions, a lambda), drop the loaders;
 *       {@code System.gc()} at most every 2 s so they unload.</li>
 *   <li>{@code recursion}: recursion D frames deep (default 5,000) with work at the
 *       bottom, on a thread with a large stack; plus a thread with a 256 KiB stack that
 *       recurses until StackOverflowError and catches it.</li>
 *   <li>{@code exceptions}: throw/catch in hot loops: own exceptions, implicit null
 *       checks, division by zero, array bounds (the JIT turns some into signals and
 *       uncommon traps), and exceptions with stack traces from 50 frames down.</li>
 *   <li>{@code locks}: 4 short-lived threads per epoch contend for one monitor (some
 *       hold it ~2 ms) while allocating arrays and strings.</li>
 *   <li>{@code jni} (with {@code --jni}): {@link StressNative#spin}: C code calling back
 *       into Java, nested.</li>
 *   <li>{@code vthreads} (with {@code --vthreads}, JDK 21+): {@code StressVirtual}, 500
 *       virtual threads per epoch sleeping, parking, hashing and locking.</li>
 * </ul>
 * Every component repeats an epoch of identical work; the epoch's digest depends only on
 * the code, never on timing, so it is the same in every epoch and in every run with or
 * without the agent. At the end, on stdout:
 * <pre>
 * result name=classes epochs=N digest=0x... mismatches=M
 * stress: done seconds=.. threads_started=.. classes_loaded=.. classes_unloaded=.. loaders=..
 *         soe=.. exceptions=.. jni_callbacks=.. vthreads=.. gcs=.. failures=F
 * </pre>
 * {@code mismatches} counts epochs whose digest differed from the first one;
 * {@code failures} counts components that threw. The process exits 0 only if both are 0.
 */
public final class Stress {
    static final int CHURN_BATCH = 200;
    static final int LOADERS_PER_EPOCH = 4;
    static final String PLUGIN = "pyrite.it.StressPlugin";
    static final String[] PLUGIN_CLASSES = {"", "$Base", "$A", "$B", "$C", "$BMaker", "$CMaker"};
    static final Map<String, byte[]> PLUGIN_BYTES = new HashMap<>();

    static final AtomicLong threadsStarted = new AtomicLong();
    static final AtomicLong loaders = new AtomicLong();
    static final AtomicLong soe = new AtomicLong();
    static final AtomicLong exceptions = new AtomicLong();
    static final AtomicLong vthreads = new AtomicLong();
    static final AtomicLong gcs = new AtomicLong();
    static volatile long sink;
    static int depth = 5000;

    // ------------------------------------------------------------------ threads

    static long churnEpoch() throws InterruptedException {
        long[] out = new long[CHURN_BATCH];
        Thread[] ts = new Thread[CHURN_BATCH];
        for (int i = 0; i < CHURN_BATCH; i++) {
            final int idx = i;
            ts[i] = new Thread(() -> out[idx] = hash(idx, 2000), "stress-churn-" + i);
            ts[i].start();
            threadsStarted.incrementAndGet();
        }
        long d = 0;
        for (int i = 0; i < CHURN_BATCH; i++) {
            ts[i].join();
            d = d * 31 + out[i];
        }
        return d;
    }

    static long hash(long seed, int n) {
        long h = 0xcbf29ce484222325L ^ seed;
        for (int i = 0; i < n; i++) {
            h = (h ^ i) * 0x100000001B3L;
        }
        return h;
    }

    // ------------------------------------------------------------------ classes

    /** Defines the plugin's classes itself (child first); everything else goes to the parent. */
    static final class PluginLoader extends ClassLoader {
        PluginLoader(ClassLoader parent) {
            super("stress-plugin", parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            byte[] b = PLUGIN_BYTES.get(name);
            if (b == null) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    c = defineClass(name, b, 0, b.length);
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }

    static void readPluginBytes() throws IOException {
        for (String suffix : PLUGIN_CLASSES) {
            String name = PLUGIN + suffix;
            String res = "/" + name.replace('.', '/') + ".class";
            try (InputStream in = Stress.class.getResourceAsStream(res)) {
                if (in == null) {
                    throw new IOException("class file not on the class path: " + res);
                }
                ByteArrayOutputStream bo = new ByteArrayOutputStream();
                in.transferTo(bo);
                PLUGIN_BYTES.put(name, bo.toByteArray());
            }
        }
    }

    static long lastGc = System.nanoTime();

    static long classesEpoch() throws ReflectiveOperationException {
        long d = 0;
        for (int i = 0; i < LOADERS_PER_EPOCH; i++) {
            ClassLoader l = new PluginLoader(Stress.class.getClassLoader());
            Class<?> k = l.loadClass(PLUGIN);
            if (k.getClassLoader() != l) {
                throw new IllegalStateException("plugin was not defined by its own loader");
            }
            LongUnaryOperator op = (LongUnaryOperator) k.getDeclaredConstructor().newInstance();
            d = d * 31 + op.applyAsLong(i + 1);
            loaders.incrementAndGet();
        }
        if (System.nanoTime() - lastGc > 2_000_000_000L) {
            System.gc(); // unloads the dropped loaders and their (compiled) methods
            gcs.incrementAndGet();
            lastGc = System.nanoTime();
        }
        return d;
    }

    // ---------------------------------------------------------------- recursion

    static long recurse(int n, long acc) {
        if (n == 0) {
            return hash(acc, 8_000_000); // time spent deep down, so samples see deep stacks
        }
        long r = recurse(n - 1, acc * 31 + n);
        if (n % 1000 == 0) {
            r ^= hash(r, 5_000);
        }
        return r ^ n;
    }

    static int overflow(int n) {
        return overflow(n + 1) + 1;
    }

    static long recursionEpoch() throws InterruptedException {
        long[] out = new long[1];
        Thread deep = new Thread(null, () -> out[0] = recurse(depth, 7), "stress-deep", 512L << 20);
        deep.start();
        threadsStarted.incrementAndGet();
        Thread shallow = new Thread(null, () -> {
            try {
                sink += overflow(0);
            } catch (StackOverflowError e) {
                soe.incrementAndGet(); // expected: the point is a signal arriving near the guard pages
            }
        }, "stress-soe", 256L << 10);
        shallow.start();
        threadsStarted.incrementAndGet();
        deep.join();
        shallow.join();
        return out[0];
    }

    // --------------------------------------------------------------- exceptions

    static final class StressException extends RuntimeException {
        final int code;

        StressException(int code) {
            super(null, null, false, false); // no stack trace: the cheap, JIT-friendly kind
            this.code = code;
        }
    }

    static long mayThrow(int i) {
        if (i % 7 == 3) {
            throw new StressException(i & 31);
        }
        return i * 3L;
    }

    static int length(int[] a) {
        return a.length; // implicit null check in compiled code
    }

    static int divide(int a, int b) {
        return a / b; // implicit zero check on x86
    }

    static int at(int[] a, int i) {
        return a[i];
    }

    static int throwDeep(int n, int code) {
        if (n == 0) {
            throw new IllegalArgumentException("deep " + code);
        }
        return throwDeep(n - 1, code) + 1;
    }

    static long exceptionsEpoch() {
        long h = 0;
        int[] arr = new int[16];
        int[] none = null;
        for (int i = 0; i < 20_000; i++) {
            try {
                h += mayThrow(i);
            } catch (StressException e) {
                h = h * 31 + e.code;
                exceptions.incrementAndGet();
            }
            try {
                h += length((i & 63) == 0 ? none : arr);
            } catch (NullPointerException e) {
                h ^= 0x55;
                exceptions.incrementAndGet();
            }
            try {
                h += divide(i, i & 127);
            } catch (ArithmeticException e) {
                h ^= 0x77;
                exceptions.incrementAndGet();
            }
            try {
                h += at(arr, i & 31);
            } catch (ArrayIndexOutOfBoundsException e) {
                h += 3;
                exceptions.incrementAndGet();
            }
        }
        for (int i = 0; i < 200; i++) {
            try {
                h += throwDeep(50, i);
            } catch (IllegalArgumentException e) {
                StackTraceElement[] st = e.getStackTrace();
                h = h * 31 + st[0].getMethodName().hashCode() + e.getMessage().length();
                exceptions.incrementAndGet();
            }
        }
        return h;
    }

    // ---------------------------------------------------------------- lock + alloc

    static final Object MONITOR = new Object();
    static long shared;

    static long locksEpoch() throws InterruptedException {
        synchronized (MONITOR) {
            shared = 0;
        }
        Thread[] ts = new Thread[4];
        for (int t = 0; t < ts.length; t++) {
            final int id = t;
            ts[t] = new Thread(() -> {
                for (int i = 0; i < 300; i++) {
                    byte[] b = new byte[64 * (1 + ((i + id) & 63))];
                    for (int j = 0; j < b.length; j++) {
                        b[j] = (byte) (j * 7 + i);
                    }
                    String s = Integer.toString(i * 31 + id).repeat(1 + (i & 7));
                    long v = hash(b.length + s.length(), 300);
                    synchronized (MONITOR) {
                        shared += v;
                        if (i % 60 == id) {
                            try {
                                Thread.sleep(2); // hold it: others wait > lock=1ms
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    }
                }
            }, "stress-lock-" + t);
            ts[t].start();
            threadsStarted.incrementAndGet();
        }
        for (Thread t : ts) {
            t.join();
        }
        synchronized (MONITOR) {
            return shared;
        }
    }

    // ----------------------------------------------------------------- drivers

    interface Epoch {
        long run() throws Exception;
    }

    static final class Driver extends Thread {
        final String component;
        final Epoch epoch;
        final long deadline;
        long epochs;
        long first;
        long mismatches;
        Throwable failure;

        Driver(String component, Epoch epoch, long deadline) {
            super("stress-" + component);
            this.component = component;
            this.epoch = epoch;
            this.deadline = deadline;
        }

        @Override
        public void run() {
            try {
                do {
                    long d = epoch.run();
                    if (epochs == 0) {
                        first = d;
                    } else if (d != first) {
                        mismatches++;
                    }
                    epochs++;
                } while (System.nanoTime() < deadline);
            } catch (Throwable t) {
                failure = t;
                t.printStackTrace();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        double seconds = 10;
        String jni = null;
        boolean virt = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--jni": jni = args[++i]; break;
                case "--vthreads": virt = true; break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        readPluginBytes();
        long t0 = System.nanoTime();
        long deadline = t0 + (long) (seconds * 1e9);
        List<Driver> ds = new ArrayList<>();
        ds.add(new Driver("threads0", Stress::churnEpoch, deadline));
        ds.add(new Driver("threads1", Stress::churnEpoch, deadline));
        ds.add(new Driver("classes", Stress::classesEpoch, deadline));
        ds.add(new Driver("recursion", Stress::recursionEpoch, deadline));
        ds.add(new Driver("exceptions", Stress::exceptionsEpoch, deadline));
        ds.add(new Driver("locks", Stress::locksEpoch, deadline));
        if (jni != null) {
            System.load(jni);
            ds.add(new Driver("jni", () -> StressNative.spin(200_000, 5_000, 2), deadline));
        }
        if (virt) {
            LongSupplier v = (LongSupplier) Class.forName("pyrite.it.StressVirtual")
                    .getDeclaredConstructor().newInstance();
            ds.add(new Driver("vthreads", () -> {
                vthreads.addAndGet(500);
                return v.getAsLong();
            }, deadline));
        }
        for (Driver d : ds) {
            d.start();
        }
        int failures = 0;
        long mismatches = 0;
        for (Driver d : ds) {
            d.join();
            if (d.failure != null) {
                failures++;
            }
            mismatches += d.mismatches;
            System.out.printf("result name=%s epochs=%d digest=0x%016x mismatches=%d failed=%d%n",
                    d.component, d.epochs, d.first, d.mismatches, d.failure != null ? 1 : 0);
        }
        ClassLoadingMXBean cl = ManagementFactory.getClassLoadingMXBean();
        System.out.printf("stress: done seconds=%.1f threads_started=%d jvm_threads_started=%d "
                        + "classes_loaded=%d classes_unloaded=%d loaders=%d soe=%d exceptions=%d "
                        + "jni_callbacks=%d vthreads=%d gcs=%d failures=%d mismatches=%d%n",
                (System.nanoTime() - t0) / 1e9, threadsStarted.get(),
                ManagementFactory.getThreadMXBean().getTotalStartedThreadCount(),
                cl.getTotalLoadedClassCount(), cl.getUnloadedClassCount(), loaders.get(), soe.get(),
                exceptions.get(), StressNative.callbacks, vthreads.get(), gcs.get(), failures, mismatches);
        System.out.flush();
        System.exit(failures == 0 && mismatches == 0 ? 0 : 1);
    }
}
