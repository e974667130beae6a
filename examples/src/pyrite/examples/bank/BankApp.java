package pyrite.examples.bank;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small "bank" of HTTP services in one JVM, each with a known performance
 * problem and its fix, for reproducing profiling incidents (docs/scenarios.md):
 *
 * <ul>
 *   <li>{@code /payment}: CPU spent in {@code MessageDigest.getInstance} per hash ({@link PaymentService});</li>
 *   <li>{@code /notification}: {@code String.format} in a loop, CPU and allocation ({@link NotificationService});</li>
 *   <li>{@code /order}: one global {@code synchronized} block, lock contention ({@link OrderService});</li>
 *   <li>{@code /gateway}: sleep-based retry back-off and sequential fan-out, slow but idle ({@link GatewayService}).</li>
 * </ul>
 *
 * <p>{@code --optimized} (or the environment variable {@code OPTIMIZED=true})
 * switches every service to its fixed code path, so before/after profiles can be
 * compared.
 *
 * <p>Usage: {@code java -cp examples/out pyrite.examples.bank.BankApp --port P
 * [--services payment,notification,order,gateway] [--optimized] [--seconds S]
 * [--threads N] [--bind ADDR]} ({@code --self-check}: check that the slow and
 * fast code paths produce the same output, then exit). {@code --port 0} picks a free port. Once ready it
 * prints {@code bankapp: listening port=P optimized=true|false}; with
 * {@code --seconds} it stops after S seconds, otherwise it runs until killed; at
 * exit it prints {@code bankapp: done ...} with per-service request counts.
 *
 * <p>Threads: one HttpServer dispatcher, {@code bank-http-N} workers (default 64;
 * the gateway's calls to the other paths use workers of the same pool, so the
 * pool must be larger than the number of concurrent gateway requests times
 * four), and {@code gateway-fanout-N} for the optimized gateway's parallel calls.
 */
public final class BankApp {
    static final List<String> ALL = Arrays.asList("payment", "notification", "order", "gateway");

    private final Map<String, Service> services = new LinkedHashMap<>();
    private final Map<String, AtomicLong> requests = new LinkedHashMap<>();
    private final AtomicLong errors = new AtomicLong();
    private GatewayService gateway;

    public static void main(String[] args) throws Exception {
        int port = 8080;
        String bind = "127.0.0.1";
        List<String> wanted = ALL;
        String env = System.getenv("OPTIMIZED");
        boolean optimized = env != null && isTrue(env);
        double seconds = -1;
        int threads = 64;
        boolean selfCheck = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--port": port = Integer.parseInt(need(args, ++i, a)); break;
                case "--bind": bind = need(args, ++i, a); break;
                case "--services": wanted = parseServices(need(args, ++i, a)); break;
                case "--optimized": optimized = true; break;
                case "--seconds": seconds = Double.parseDouble(need(args, ++i, a)); break;
                case "--threads": threads = Integer.parseInt(need(args, ++i, a)); break;
                case "--self-check": selfCheck = true; break;
                case "-h": case "--help":
                    System.out.println("usage: BankApp --port P [--services " + String.join(",", ALL)
                            + "] [--optimized] [--seconds S] [--threads N] [--bind ADDR]\n"
                            + "       BankApp --self-check   (the slow and fast code paths give the same answers)\n"
                            + "  OPTIMIZED=true in the environment is the same as --optimized");
                    return;
                default:
                    usage("unknown argument " + a);
            }
        }
        if (threads < 4) {
            usage("--threads must be >= 4");
        }
        if (selfCheck) {
            // Not done at every start: it runs the slow code paths, which would
            // show up in the optimized run's profile.
            String bad = NotificationService.selfCheck();
            if (bad == null && !Arrays.equals(PaymentService.hashChain(new byte[] {1, 2, 3}, 50, false),
                    PaymentService.hashChain(new byte[] {1, 2, 3}, 50, true))) {
                bad = "payment hash chains differ";
            }
            System.out.println("bankapp: self-check " + (bad == null ? "ok" : "FAILED: " + bad));
            System.exit(bad == null ? 0 : 1);
        }
        new BankApp().run(bind, port, wanted, optimized, seconds, threads);
    }

    private void run(String bind, int port, List<String> wanted, boolean optimized, double seconds, int threads)
            throws Exception {
        Http.configureClientPool(threads);
        // The JDK server writes headers and body separately; without TCP_NODELAY
        // Nagle + the client's delayed ACK add ~40 ms to every response.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        ExecutorService workers = Executors.newFixedThreadPool(threads, named("bank-http-", false));
        ExecutorService fanout = Executors.newFixedThreadPool(Math.max(4, threads / 2), named("gateway-fanout-", true));
        HttpServer server = HttpServer.create(new InetSocketAddress(bind, port), 1024);
        server.setExecutor(workers);
        int actualPort = server.getAddress().getPort();

        List<String> downstream = new ArrayList<>();
        for (String name : wanted) {
            Service s;
            switch (name) {
                case "payment": s = new PaymentService(optimized); break;
                case "notification": s = new NotificationService(optimized); break;
                case "order": s = new OrderService(optimized); break;
                case "gateway": continue; // created below, once the others are known
                default: throw new IllegalStateException(name);
            }
            downstream.add(name);
            register(server, s);
        }
        if (wanted.contains("gateway")) {
            String host = bind.equals("0.0.0.0") ? "127.0.0.1" : bind;
            gateway = new GatewayService(optimized, "http://" + host + ":" + actualPort, downstream, fanout);
            register(server, gateway);
        }
        server.createContext("/", ex -> respond(ex, ex.getRequestURI().getPath().equals("/") ? 200 : 404,
                "bankapp services: " + String.join(",", services.keySet()) + "\n"));

        long t0 = System.nanoTime();
        Thread stats = new Thread(() -> printDone(t0), "bankapp-exit");
        Runtime.getRuntime().addShutdownHook(stats);
        server.start();
        System.out.println("bankapp: services=" + String.join(",", services.keySet()));
        System.out.println("bankapp: listening port=" + actualPort + " optimized=" + optimized);
        System.out.flush();
        if (seconds < 0) {
            Thread.currentThread().join(); // until killed; the shutdown hook prints the totals
            return;
        }
        Thread.sleep((long) (seconds * 1000));
        server.stop(0);
        workers.shutdown();
        fanout.shutdown();
        workers.awaitTermination(5, TimeUnit.SECONDS);
        // Exit through the shutdown hook so the totals are printed exactly once.
        System.exit(0);
    }

    private void register(HttpServer server, Service s) {
        AtomicLong count = new AtomicLong();
        services.put(s.name(), s);
        requests.put(s.name(), count);
        server.createContext("/" + s.name(), ex -> {
            count.incrementAndGet();
            drain(ex.getRequestBody());
            String body;
            int status = 200;
            try {
                body = s.handle(Http.parseQuery(ex.getRequestURI().getRawQuery()));
            } catch (Exception | Error e) {
                errors.incrementAndGet();
                status = 500;
                body = s.name() + " error: " + e + "\n";
            }
            respond(ex, status, body);
        });
    }

    private void printDone(long t0) {
        StringBuilder sb = new StringBuilder("bankapp: done");
        sb.append(String.format(Locale.ROOT, " seconds=%.1f", (System.nanoTime() - t0) / 1e9));
        long total = 0;
        for (Map.Entry<String, AtomicLong> e : requests.entrySet()) {
            sb.append(' ').append(e.getKey()).append('=').append(e.getValue().get());
            total += e.getValue().get();
        }
        sb.append(" requests=").append(total).append(" errors=").append(errors.get());
        if (gateway != null) {
            sb.append(" gateway_backoffs=").append(gateway.backoffs());
        }
        System.out.println(sb);
        System.out.flush();
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private static void drain(InputStream in) throws IOException {
        byte[] buf = new byte[1024];
        while (in.read(buf) > 0) {
            // discard: the services take their input from the query string
        }
    }

    private static ThreadFactory named(String prefix, boolean daemon) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.getAndIncrement());
            t.setDaemon(daemon);
            return t;
        };
    }

    static List<String> parseServices(String csv) {
        List<String> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            String name = s.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            if (!ALL.contains(name)) {
                usage("unknown service '" + name + "' (known: " + String.join(",", ALL) + ")");
            }
            if (!out.contains(name)) {
                out.add(name);
            }
        }
        if (out.isEmpty()) {
            usage("--services needs at least one service");
        }
        return out;
    }

    static boolean isTrue(String v) {
        String s = v.trim().toLowerCase(Locale.ROOT);
        return s.equals("true") || s.equals("1") || s.equals("yes") || s.equals("on");
    }

    private static String need(String[] args, int i, String opt) {
        if (i >= args.length) {
            usage(opt + " needs a value");
        }
        return args[i];
    }

    private static void usage(String msg) {
        System.err.println("bankapp: " + msg);
        System.exit(2);
    }
}
