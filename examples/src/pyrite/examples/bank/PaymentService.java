package pyrite.examples.bank;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /payment?account=A&amount=CENTS}: books a payment and returns the head
 * of its integrity hash chain (SHA-256 over the previous link and the entry,
 * {@link #ROUNDS} links per payment).
 *
 * <p><b>The incident (CPU):</b> the slow path calls
 * {@code MessageDigest.getInstance("SHA-256")} for every link. Each call searches
 * the security providers and instantiates the digest reflectively, which costs
 * more than hashing the short entry, so the CPU profile shows
 * {@code MessageDigest.getInstance} and the provider lookup under it
 * ({@code Provider$Service.newInstance}, {@code GetInstance.getInstance}) beside
 * {@code MessageDigest.digest}.
 *
 * <p><b>The fix ({@code --optimized}):</b> one digest per thread, cached in a
 * {@link ThreadLocal} and {@code reset()} before use. The hashing work and the
 * result are identical.
 */
final class PaymentService implements Service {
    /** Hash-chain links per payment: keeps a request at a few hundred µs of CPU. */
    static final int ROUNDS = 4000;

    private static final ThreadLocal<MessageDigest> CACHED = ThreadLocal.withInitial(PaymentService::newDigest);

    private final boolean optimized;
    private final AtomicLong sequence = new AtomicLong();

    PaymentService(boolean optimized) {
        this.optimized = optimized;
    }

    @Override
    public String name() {
        return "payment";
    }

    @Override
    public String handle(Map<String, String> q) {
        String account = q.getOrDefault("account", "acct-0");
        long amount = Http.longParam(q, "amount", 100);
        long seq = sequence.incrementAndGet();
        byte[] entry = (account + '|' + amount + '|' + seq).getBytes(StandardCharsets.UTF_8);
        byte[] link = hashChain(entry, ROUNDS, optimized);
        return "payment ok seq=" + seq + " chain=" + hex(link, 8) + "\n";
    }

    /** The chain: link[i] = SHA-256(link[i-1] || entry), link[-1] = 32 zero bytes. */
    static byte[] hashChain(byte[] entry, int rounds, boolean optimized) {
        byte[] link = new byte[32];
        for (int i = 0; i < rounds; i++) {
            MessageDigest md = optimized ? cachedDigest() : newDigest();
            md.update(link);
            md.update(entry);
            link = md.digest();
        }
        return link;
    }

    /** The fix: one instance per thread, reset before each use. */
    static MessageDigest cachedDigest() {
        MessageDigest md = CACHED.get();
        md.reset();
        return md;
    }

    /** The slow path: a provider lookup and a reflective instantiation per call. */
    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 not available", e);
        }
    }

    static String hex(byte[] b, int n) {
        StringBuilder sb = new StringBuilder(2 * n);
        for (int i = 0; i < n && i < b.length; i++) {
            sb.append(Character.forDigit((b[i] >> 4) & 0xf, 16)).append(Character.forDigit(b[i] & 0xf, 16));
        }
        return sb.toString();
    }
}
