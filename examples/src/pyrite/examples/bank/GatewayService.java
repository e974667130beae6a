package pyrite.examples.bank;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /gateway?account=A&amount=CENTS}: the API gateway. For each request it
 * gets an access token from a (simulated) token service, then calls every
 * other service running in this {@link BankApp} ({@code /payment},
 * {@code /order}, {@code /notification}) over loopback HTTP and combines the
 * answers. With no other service running it calls a simulated remote backend
 * (a 3 ms sleep) instead.
 *
 * <p><b>The incident (slow but idle, wall clock):</b> the slow path asks the
 * token service for a new token on every request; the token service answers in
 * about {@link TokenService#LATENCY_MS} ms and rejects one call in three
 * ("503, try again"), and the gateway then backs off with
 * {@code Thread.sleep} (10 ms, 20 ms, ...). The downstream calls run one after
 * the other. Requests take many milliseconds while the CPU is nearly idle: the
 * CPU profile shows nothing unusual, the wall-clock profile shows the gateway's
 * threads in {@code Thread.sleep} under {@code GatewayService.backoff} and in
 * socket reads under {@code GatewayService.callSequential}.
 *
 * <p><b>The fix ({@code --optimized}):</b> the token is cached until it expires
 * (one fetch per {@link TokenService#TTL_MS} ms, a failed fetch is retried at
 * once, no sleep) and the downstream calls run in parallel
 * ({@link CompletableFuture#supplyAsync} on the {@code gateway-fanout} pool).
 */
final class GatewayService implements Service {
    private final boolean optimized;
    private final String baseUrl;
    private final List<String> downstream;
    private final ExecutorService fanout;
    private final TokenService tokens = new TokenService();
    private final AtomicLong backoffs = new AtomicLong();

    /**
     * @param baseUrl    e.g. {@code http://127.0.0.1:8080}
     * @param downstream names of the services to call (may be empty)
     * @param fanout     pool for the optimized parallel calls
     */
    GatewayService(boolean optimized, String baseUrl, List<String> downstream, ExecutorService fanout) {
        this.optimized = optimized;
        this.baseUrl = baseUrl;
        this.downstream = new ArrayList<>(downstream);
        this.fanout = fanout;
    }

    @Override
    public String name() {
        return "gateway";
    }

    long backoffs() {
        return backoffs.get();
    }

    @Override
    public String handle(Map<String, String> q) throws Exception {
        String account = q.getOrDefault("account", "acct-0");
        long amount = Http.longParam(q, "amount", 100);
        String token = optimized ? tokens.cachedToken() : fetchTokenWithBackoff();
        String query = "?account=" + account + "&amount=" + amount + "&token=" + token;
        List<String> answers = optimized ? callParallel(query) : callSequential(query);
        StringBuilder sb = new StringBuilder("gateway ok calls=").append(answers.size()).append('\n');
        for (String a : answers) {
            sb.append("  ").append(a);
        }
        return sb.toString();
    }

    /** The slow path: a fresh token per request, sleeping between retries. */
    String fetchTokenWithBackoff() throws InterruptedException {
        long delay = 10;
        for (int attempt = 1; ; attempt++) {
            try {
                return tokens.fetch();
            } catch (TokenService.Unavailable e) {
                if (attempt >= 5) {
                    return "degraded";
                }
                backoffs.incrementAndGet();
                backoff(delay);
                delay *= 2;
            }
        }
    }

    /** Separate method so the wall-clock profile names the culprit. */
    static void backoff(long ms) throws InterruptedException {
        Thread.sleep(ms);
    }

    /** The slow path: one downstream call after the other. */
    List<String> callSequential(String query) throws IOException, InterruptedException {
        List<String> out = new ArrayList<>(Math.max(1, downstream.size()));
        if (downstream.isEmpty()) {
            out.add(simulatedBackend());
            return out;
        }
        for (String name : downstream) {
            out.add(call(name, query));
        }
        return out;
    }

    /** The fix: all downstream calls at once, then wait for all of them. */
    List<String> callParallel(String query) throws IOException, InterruptedException {
        if (downstream.isEmpty()) {
            List<String> out = new ArrayList<>(1);
            out.add(simulatedBackend());
            return out;
        }
        List<CompletableFuture<String>> calls = new ArrayList<>(downstream.size());
        for (String name : downstream) {
            calls.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return call(name, query);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, fanout));
        }
        List<String> out = new ArrayList<>(calls.size());
        for (CompletableFuture<String> c : calls) {
            out.add(c.join());
        }
        return out;
    }

    private String call(String name, String query) throws IOException {
        Http.Reply r = Http.get(baseUrl + "/" + name + query);
        if (r.status != 200) {
            throw new IOException("/" + name + " answered " + r.status + ": " + r.body);
        }
        return r.body;
    }

    /** Stands in for a remote backend when no other service runs here. */
    static String simulatedBackend() throws InterruptedException {
        Thread.sleep(3);
        return "backend ok\n";
    }

    /**
     * A simulated remote token service: each call takes {@link #LATENCY_MS} ms
     * (spent sleeping, like a network round trip) and every third call is
     * rejected as temporarily unavailable.
     */
    static final class TokenService {
        static final long LATENCY_MS = 2;
        static final long TTL_MS = 1000;

        static final class Unavailable extends Exception {
            private static final long serialVersionUID = 1L;

            Unavailable() {
                super("token service unavailable", null, false, false);
            }
        }

        private final AtomicLong calls = new AtomicLong();
        private volatile String token;
        private volatile long expiresAtNanos;

        String fetch() throws Unavailable, InterruptedException {
            Thread.sleep(LATENCY_MS);
            long n = calls.incrementAndGet();
            if (n % 3 == 0) {
                throw new Unavailable();
            }
            return "tok" + n;
        }

        /** The fix: reuse the token until it expires; refresh once, no sleeping backoff. */
        String cachedToken() throws InterruptedException {
            String t = token;
            if (t != null && System.nanoTime() < expiresAtNanos) {
                return t;
            }
            synchronized (this) {
                if (token != null && System.nanoTime() < expiresAtNanos) {
                    return token;
                }
                for (int attempt = 1; ; attempt++) {
                    try {
                        t = fetch();
                        break;
                    } catch (Unavailable e) {
                        if (attempt >= 5) {
                            return token != null ? token : "degraded";
                        }
                    }
                }
                token = t;
                expiresAtNanos = System.nanoTime() + TTL_MS * 1_000_000L;
                return t;
            }
        }
    }
}
