package pyrite.examples.bank;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Drives {@link BankApp} over HTTP with N concurrent clients for S seconds.
 *
 * <p>Usage: {@code java -cp examples/out pyrite.examples.bank.LoadGen --target
 * http://127.0.0.1:P --paths /payment,/notification,/order,/gateway
 * --concurrency N --seconds S [--rps R] [--accounts K] [--json FILE]}.
 *
 * <p>Each client is one thread doing blocking GETs on keep-alive connections,
 * cycling through the paths (client i starts at path i, so every path gets
 * traffic) with {@code ?account=acct-K&amount=CENTS} from a seeded random
 * generator. Without {@code --rps} the clients run closed-loop (next request as
 * soon as the previous answer arrives). With {@code --rps R} request starts are
 * paced to R per second in total, on a fixed schedule; a client that falls
 * behind sends at once, and latency is measured from the actual send, with
 * {@code System.nanoTime}.
 *
 * <p>Output: one line per path, {@code loadgen: path=/p requests=.. errors=..
 * p50_ms=.. p99_ms=..}, then the summary {@code loadgen: requests=.. errors=..
 * seconds=.. rps=.. p50_ms=.. p99_ms=..} (a request is an error if it failed or
 * the status was not 200; error latencies are not in the percentiles). With
 * {@code --json FILE} the same numbers (plus p90, max, per path) go to FILE.
 * Exit code 0, also when there were errors; 2 on a usage error.
 */
public final class LoadGen {
    /** What one client measured: latencies in ns per path index. */
    private static final class Client extends Thread {
        final long[][] lat;
        final int[] n;
        final long[] errs;
        String firstError;

        private final String target;
        private final String[] paths;
        private final int accounts;
        private final long deadline;
        private final int offset;

        Client(int id, String target, String[] paths, int accounts, long deadline) {
            super("loadgen-" + id);
            this.target = target;
            this.paths = paths;
            this.accounts = accounts;
            this.deadline = deadline;
            this.offset = id;
            lat = new long[paths.length][1024];
            n = new int[paths.length];
            errs = new long[paths.length];
        }

        @Override
        public void run() {
            Random rnd = new Random(0x5eedL * 31 + offset);
            for (long k = offset; ; k++) {
                long start = pacer == null ? System.nanoTime() : pacer.next();
                if (start < 0 || start >= deadline) {
                    return;
                }
                int p = (int) (k % paths.length);
                String url = target + paths[p] + "?account=acct-" + rnd.nextInt(accounts)
                        + "&amount=" + (100 + rnd.nextInt(500_000));
                boolean ok;
                try {
                    Http.Reply r = Http.get(url);
                    ok = r.status == 200;
                    if (!ok && firstError == null) {
                        firstError = paths[p] + ": HTTP " + r.status + " " + r.body.trim();
                    }
                } catch (IOException e) {
                    ok = false;
                    if (firstError == null) {
                        firstError = paths[p] + ": " + e;
                    }
                }
                long end = System.nanoTime();
                if (end > deadline) {
                    return; // finished after the window closed: not counted
                }
                if (ok) {
                    if (n[p] == lat[p].length) {
                        lat[p] = Arrays.copyOf(lat[p], lat[p].length * 2);
                    }
                    lat[p][n[p]++] = end - start;
                } else {
                    errs[p]++;
                }
            }
        }
    }

    /** Hands out request start times R per second on a fixed schedule. */
    private static final class Pacer {
        private final long t0;
        private final double periodNs;
        private final AtomicLong seq = new AtomicLong();

        Pacer(long t0, double rps) {
            this.t0 = t0;
            this.periodNs = 1e9 / rps;
        }

        /** Waits for the next slot; returns its time (now, if late). */
        long next() {
            long slot = t0 + (long) (seq.getAndIncrement() * periodNs);
            for (;;) {
                long now = System.nanoTime();
                long wait = slot - now;
                if (wait <= 0) {
                    return now;
                }
                try {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                } catch (InterruptedException e) {
                    return -1;
                }
            }
        }
    }

    private static Pacer pacer;

    public static void main(String[] args) throws Exception {
        String target = null;
        String[] paths = {"/payment", "/notification", "/order", "/gateway"};
        int concurrency = 4;
        double seconds = 10;
        double rps = 0;
        int accounts = 1000;
        String json = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--target": target = need(args, ++i, a); break;
                case "--paths": paths = parsePaths(need(args, ++i, a)); break;
                case "--concurrency": concurrency = Integer.parseInt(need(args, ++i, a)); break;
                case "--seconds": seconds = Double.parseDouble(need(args, ++i, a)); break;
                case "--rps": rps = Double.parseDouble(need(args, ++i, a)); break;
                case "--accounts": accounts = Integer.parseInt(need(args, ++i, a)); break;
                case "--json": json = need(args, ++i, a); break;
                case "-h": case "--help":
                    System.out.println("usage: LoadGen --target http://127.0.0.1:P [--paths /payment,/notification,"
                            + "/order,/gateway] [--concurrency N] [--seconds S] [--rps R] [--accounts K] [--json FILE]");
                    return;
                default:
                    usage("unknown argument " + a);
            }
        }
        if (target == null) {
            usage("--target is required");
        }
        while (target.endsWith("/")) {
            target = target.substring(0, target.length() - 1);
        }
        if (concurrency < 1 || seconds <= 0 || rps < 0 || accounts < 1) {
            usage("--concurrency, --seconds and --accounts must be positive, --rps >= 0");
        }
        Http.configureClientPool(concurrency);

        long t0 = System.nanoTime();
        long deadline = t0 + (long) (seconds * 1e9);
        pacer = rps > 0 ? new Pacer(t0, rps) : null;
        List<Client> clients = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            Client c = new Client(i, target, paths, accounts, deadline);
            c.setDaemon(true);
            clients.add(c);
            c.start();
        }
        for (Client c : clients) {
            // A request stuck past the deadline (server hung) is abandoned after the read timeout.
            c.join((long) (seconds * 1000) + Http.TIMEOUT_MS + 1000);
        }
        double elapsed = Math.min(System.nanoTime(), deadline + 1) - t0;
        elapsed = Math.max(elapsed, 1) / 1e9;

        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("target", target);
        doc.put("concurrency", concurrency);
        doc.put("target_rps", rps);
        List<long[]> all = new ArrayList<>();
        long allErrors = 0;
        Map<String, Object> perPath = new LinkedHashMap<>();
        String firstError = null;
        for (int p = 0; p < paths.length; p++) {
            int total = 0;
            long errs = 0;
            for (Client c : clients) {
                total += c.n[p];
                errs += c.errs[p];
            }
            long[] lat = new long[total];
            int k = 0;
            for (Client c : clients) {
                System.arraycopy(c.lat[p], 0, lat, k, c.n[p]);
                k += c.n[p];
            }
            Arrays.sort(lat);
            all.add(lat);
            allErrors += errs;
            Map<String, Object> m = stats(lat, errs, elapsed);
            perPath.put(paths[p], m);
            System.out.println("loadgen: path=" + paths[p] + " requests=" + m.get("requests") + " errors=" + errs
                    + " rps=" + fmt((double) m.get("rps")) + " p50_ms=" + fmt((double) m.get("p50_ms"))
                    + " p99_ms=" + fmt((double) m.get("p99_ms")));
        }
        for (Client c : clients) {
            if (c.firstError != null) {
                firstError = c.firstError;
                break;
            }
        }
        long[] merged = all.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        Map<String, Object> sum = stats(merged, allErrors, elapsed);
        if (firstError != null) {
            System.out.println("loadgen: first error: " + firstError);
        }
        System.out.println("loadgen: requests=" + sum.get("requests") + " errors=" + allErrors
                + " seconds=" + fmt(elapsed) + " rps=" + fmt((double) sum.get("rps"))
                + " p50_ms=" + fmt((double) sum.get("p50_ms")) + " p99_ms=" + fmt((double) sum.get("p99_ms")));
        if (json != null) {
            doc.putAll(sum);
            doc.put("paths", perPath);
            Files.write(Paths.get(json), (toJson(doc) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        System.out.flush();
    }

    private static Map<String, Object> stats(long[] sortedNs, long errors, double seconds) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("requests", (long) sortedNs.length);
        m.put("errors", errors);
        m.put("seconds", seconds);
        m.put("rps", sortedNs.length / seconds);
        m.put("p50_ms", pct(sortedNs, 0.50));
        m.put("p90_ms", pct(sortedNs, 0.90));
        m.put("p99_ms", pct(sortedNs, 0.99));
        m.put("max_ms", sortedNs.length == 0 ? 0.0 : sortedNs[sortedNs.length - 1] / 1e6);
        return m;
    }

    /** Nearest-rank percentile in ms (0 when there are no samples). */
    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) {
            return 0.0;
        }
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))] / 1e6;
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }

    @SuppressWarnings("unchecked")
    private static String toJson(Object o) {
        if (o instanceof Map) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) o).entrySet()) {
                sb.append(first ? "" : ", ").append(quote(e.getKey())).append(": ").append(toJson(e.getValue()));
                first = false;
            }
            return sb.append('}').toString();
        }
        if (o instanceof Double) {
            return fmt((Double) o);
        }
        if (o instanceof Number) {
            return o.toString();
        }
        return quote(String.valueOf(o));
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20) {
                sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    static String[] parsePaths(String csv) {
        List<String> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            String p = s.trim();
            if (!p.isEmpty()) {
                out.add(p.startsWith("/") ? p : "/" + p);
            }
        }
        if (out.isEmpty()) {
            usage("--paths needs at least one path");
        }
        return out.toArray(new String[0]);
    }

    private static String need(String[] args, int i, String opt) {
        if (i >= args.length) {
            usage(opt + " needs a value");
        }
        return args[i];
    }

    private static void usage(String msg) {
        System.err.println("loadgen: " + msg);
        System.exit(2);
    }
}
