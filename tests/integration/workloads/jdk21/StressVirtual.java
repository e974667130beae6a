package pyrite.it;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The virtual-thread part of {@link Stress} (JDK 21+). This file lives in
 * {@code workloads/jdk21/} because the other workloads are compiled with
 * {@code --release 17}; the stress test compiles it with {@code --release 21} only for
 * JDKs that have virtual threads, and {@code Stress --vthreads} finds it by reflection.
 *
 * <p>One epoch ({@link #getAsLong}) runs {@link #COUNT} virtual threads; each one sleeps,
 * parks, hashes, enters a shared monitor (pinning its carrier before JDK 24) and a
 * {@link ReentrantLock}, a few rounds. The digest depends only on the thread indices.
 */
public final class StressVirtual implements LongSupplier {
    static final int COUNT = 500;
    static final int ROUNDS = 4;
    static final Object[] MONITORS = new Object[8];
    static final ReentrantLock LOCK = new ReentrantLock();
    static long sharedSum;

    static {
        for (int i = 0; i < MONITORS.length; i++) {
            MONITORS[i] = new Object();
        }
    }

    static long work(int idx) throws InterruptedException {
        long h = 0x9E3779B97F4A7C15L * (idx + 1);
        for (int r = 0; r < ROUNDS; r++) {
            if (((idx + r) & 1) == 0) {
                Thread.sleep(1);
            } else {
                LockSupport.parkNanos(300_000);
            }
            for (int i = 0; i < 3000; i++) {
                h = (h ^ i) * 0x100000001B3L;
            }
            synchronized (MONITORS[idx & 7]) {
                h += idx & 7;
            }
            LOCK.lock();
            try {
                sharedSum += 1;
            } finally {
                LOCK.unlock();
            }
        }
        return h;
    }

    @Override
    public long getAsLong() {
        long digest = 0;
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            @SuppressWarnings("unchecked")
            Future<Long>[] fs = new Future[COUNT];
            for (int i = 0; i < COUNT; i++) {
                final int idx = i;
                fs[i] = ex.submit(() -> work(idx));
            }
            for (int i = 0; i < COUNT; i++) {
                digest = digest * 31 + fs[i].get();
            }
        } catch (Exception e) {
            throw new IllegalStateException("virtual thread epoch failed", e);
        }
        return digest;
    }
}
