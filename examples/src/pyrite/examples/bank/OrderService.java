package pyrite.examples.bank;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /order?account=A&amount=CENTS}: records an order in the account's book
 * and returns the account's risk score over its recent orders.
 *
 * <p><b>The incident (lock contention):</b> the slow path keeps every book in
 * one {@link HashMap} and does the whole update, including the risk scoring,
 * inside one {@code synchronized} block on that map. Requests for different
 * accounts queue behind each other: the server's worker threads block in
 * {@code OrderService.placeLocked} (JVMTI {@code MonitorContendedEnter}, JFR
 * {@code jdk.JavaMonitorEnter}), throughput stops at one core and latency grows
 * with the number of clients while the CPU is not the limit.
 *
 * <p><b>The fix ({@code --optimized}):</b> a {@link ConcurrentHashMap} of books
 * and a lock per account book, held only for the list update; the scoring (the
 * same work) runs on a snapshot outside any lock.
 */
final class OrderService implements Service {
    /** Orders kept per account (the scoring window). */
    static final int WINDOW = 64;
    /** Scoring passes over the window: a couple of hundred µs of CPU per order. */
    static final int PASSES = 2000;

    /** One account's recent orders (amounts in cents), oldest first. */
    static final class Book {
        final ArrayDeque<Long> recent = new ArrayDeque<>(WINDOW + 1);
        long total;

        /** A new book starts with a full window of (deterministic) history, so
         *  every order costs the same to score from the first request on. */
        Book(String account) {
            long x = account.hashCode();
            for (int i = 0; i < WINDOW; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                add((x >>> 40) % 100_000);
            }
        }

        void add(long cents) {
            recent.addLast(cents);
            total += cents;
            if (recent.size() > WINDOW) {
                total -= recent.removeFirst();
            }
        }

        long[] snapshot() {
            long[] out = new long[recent.size()];
            int i = 0;
            for (Long v : recent) {
                out[i++] = v;
            }
            return out;
        }
    }

    private final boolean optimized;
    private final Map<String, Book> books = new HashMap<>();
    private final ConcurrentHashMap<String, Book> concurrentBooks = new ConcurrentHashMap<>();
    private final AtomicLong placed = new AtomicLong();

    OrderService(boolean optimized) {
        this.optimized = optimized;
    }

    @Override
    public String name() {
        return "order";
    }

    @Override
    public String handle(Map<String, String> q) {
        String account = q.getOrDefault("account", "acct-0");
        long amount = Http.longParam(q, "amount", 100);
        long score = optimized ? placeConcurrent(account, amount) : placeLocked(account, amount);
        return "order ok id=" + placed.incrementAndGet() + " risk=" + score + "\n";
    }

    /** The slow path: one global monitor around the update and the scoring. */
    long placeLocked(String account, long amount) {
        synchronized (books) {
            Book b = books.computeIfAbsent(account, Book::new);
            b.add(amount);
            return riskScore(b.snapshot());
        }
    }

    /** The fix: per-account lock for the update only; scoring outside any lock. */
    long placeConcurrent(String account, long amount) {
        Book b = concurrentBooks.computeIfAbsent(account, Book::new);
        long[] window;
        synchronized (b) {
            b.add(amount);
            window = b.snapshot();
        }
        return riskScore(window);
    }

    /**
     * A deliberately plain scoring loop (mean absolute deviation of moving sums,
     * repeated {@link #PASSES} times with a varying span) standing in for a real
     * rules engine. Pure CPU; its cost does not depend on the path taken.
     */
    static long riskScore(long[] w) {
        long score = 0;
        for (int p = 0; p < PASSES; p++) {
            int span = 1 + (p % 8);
            long acc = 0;
            for (int i = 0; i + span <= w.length; i++) {
                long s = 0;
                for (int j = i; j < i + span; j++) {
                    s += w[j];
                }
                acc += Math.abs(s - span * w[i]);
            }
            score = (score * 31 + acc) & 0xffffffffL;
        }
        return score % 1000;
    }
}
