package pyrite.examples.bank;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Small HTTP helpers shared by the services, the gateway's downstream calls and
 * the load generator. Plain JDK only: {@code HttpURLConnection} on the client
 * side, which pools keep-alive connections per destination (the pool size is
 * the {@code http.maxConnections} system property, set by the mains before the
 * first request; the JDK default of 5 would close and reopen connections as
 * soon as more than 5 clients run at once).
 */
final class Http {
    private Http() {}

    /** Connect/read timeout for every client call, in ms. */
    static final int TIMEOUT_MS = 10_000;

    /** Raises the keep-alive pool size; call before the first connection. */
    static void configureClientPool(int connections) {
        System.setProperty("http.maxConnections", Integer.toString(Math.max(5, connections)));
        System.setProperty("http.keepAlive", "true");
    }

    /** Decodes {@code a=1&b=x} (null or empty: no parameters). */
    static Map<String, String> parseQuery(String raw) {
        Map<String, String> out = new HashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            String v = eq < 0 ? "" : pair.substring(eq + 1);
            out.put(URLDecoder.decode(k, StandardCharsets.UTF_8), URLDecoder.decode(v, StandardCharsets.UTF_8));
        }
        return out;
    }

    /** A GET's status and body. */
    static final class Reply {
        final int status;
        final String body;

        Reply(int status, String body) {
            this.status = status;
            this.body = body;
        }
    }

    /**
     * GET {@code url}; the body is always read to the end and the stream closed,
     * so the connection goes back to the keep-alive pool.
     */
    static Reply get(String url) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(TIMEOUT_MS);
        c.setReadTimeout(TIMEOUT_MS);
        c.setUseCaches(false);
        int status = c.getResponseCode();
        InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
        String body = in == null ? "" : readAll(in);
        return new Reply(status, body);
    }

    private static String readAll(InputStream in) throws IOException {
        try (InputStream s = in) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
            byte[] chunk = new byte[4096];
            int n;
            while ((n = s.read(chunk)) > 0) {
                buf.write(chunk, 0, n);
            }
            return buf.toString(StandardCharsets.UTF_8);
        }
    }

    /** Parses a {@code long} parameter, with a default when absent or malformed. */
    static long longParam(Map<String, String> q, String key, long dflt) {
        String v = q.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
