package pyrite.examples.bank;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /notification?account=A}: renders the account's statement e-mail
 * ({@link #LINES} transaction lines) and returns its size and a checksum.
 *
 * <p><b>The incident (CPU and allocation):</b> the slow path formats every
 * line with {@code String.format}. Each call creates a {@code Formatter},
 * parses the format string again (with a regular expression on JDK 17), boxes
 * its arguments, looks up the locale's digits for each number
 * ({@code DecimalFormatSymbols}) and formats the amount through
 * {@code FormattedFloatingDecimal}, so the CPU profile shows
 * {@code Formatter.format} and the allocation profile is dominated by the
 * formatter's garbage.
 *
 * <p><b>The fix ({@code --optimized}):</b> append to the same
 * {@link StringBuilder} directly, with hand-written padding and cents formatting. The text produced is
 * byte-for-byte the same ({@link #selfCheck} verifies it at start-up).
 */
final class NotificationService implements Service {
    /** Lines per statement: keeps a request at a few hundred µs of CPU. */
    static final int LINES = 150;

    private static final String[] MERCHANTS = {
        "GROCERY", "FUEL", "PHARMACY", "BOOKSHOP", "TRANSIT", "CINEMA", "BAKERY", "HARDWARE",
    };

    private final boolean optimized;
    private final AtomicLong sent = new AtomicLong();

    NotificationService(boolean optimized) {
        this.optimized = optimized;
    }

    @Override
    public String name() {
        return "notification";
    }

    @Override
    public String handle(Map<String, String> q) {
        String account = q.getOrDefault("account", "acct-0");
        long seed = account.hashCode() * 31L + sent.incrementAndGet();
        String text = optimized ? renderFast(account, seed) : renderSlow(account, seed);
        int sum = 0;
        for (int i = 0; i < text.length(); i++) {
            sum = 31 * sum + text.charAt(i);
        }
        return "notification ok bytes=" + text.length() + " sum=" + Integer.toHexString(sum) + "\n";
    }

    /** Deterministic amount in cents for line i (negative: a debit). */
    static long amountCents(long seed, int i) {
        long x = seed * 6364136223846793005L + i * 1442695040888963407L;
        x ^= x >>> 29;
        return (x % 2_000_000L) - 500_000L;
    }

    /** The slow path: String.format per line (a new Formatter, a format-string parse, boxing). */
    static String renderSlow(String account, long seed) {
        StringBuilder sb = new StringBuilder(64 + LINES * 36);
        sb.append(String.format("Statement for %s%n%-4s %-10s %14s %s%n", account, "#", "MERCHANT", "AMOUNT", "CUR"));
        long balance = 0;
        for (int i = 0; i < LINES; i++) {
            long cents = amountCents(seed, i);
            balance += cents;
            sb.append(String.format("%04d %-10s %14.2f %s%n", i, MERCHANTS[i & 7], cents / 100.0, "EUR"));
        }
        sb.append(String.format("%-15s %14.2f %s%n", "BALANCE", balance / 100.0, "EUR"));
        return sb.toString();
    }

    /** The fix: one StringBuilder, padding and cents by hand. */
    static String renderFast(String account, long seed) {
        StringBuilder sb = new StringBuilder(64 + LINES * 36);
        String nl = System.lineSeparator();
        sb.append("Statement for ").append(account).append(nl);
        padRight(sb, "#", 4).append(' ');
        padRight(sb, "MERCHANT", 10).append(' ');
        padLeft(sb, "AMOUNT", 14).append(' ').append("CUR").append(nl);
        long balance = 0;
        for (int i = 0; i < LINES; i++) {
            long cents = amountCents(seed, i);
            balance += cents;
            if (i < 1000) {
                sb.append(i < 10 ? "000" : i < 100 ? "00" : "0");
            }
            sb.append(i).append(' ');
            padRight(sb, MERCHANTS[i & 7], 10).append(' ');
            money(sb, cents, 14).append(" EUR").append(nl);
        }
        padRight(sb, "BALANCE", 15).append(' ');
        money(sb, balance, 14).append(" EUR").append(nl);
        return sb.toString();
    }

    private static StringBuilder padRight(StringBuilder sb, String s, int width) {
        sb.append(s);
        for (int i = s.length(); i < width; i++) {
            sb.append(' ');
        }
        return sb;
    }

    private static StringBuilder padLeft(StringBuilder sb, String s, int width) {
        for (int i = s.length(); i < width; i++) {
            sb.append(' ');
        }
        return sb.append(s);
    }

    /** cents as [-]units.cc right-aligned in width (what %W.2f prints for these values). */
    private static StringBuilder money(StringBuilder sb, long cents, int width) {
        long abs = Math.abs(cents);
        long units = abs / 100;
        int frac = (int) (abs % 100);
        int len = (cents < 0 ? 1 : 0) + Long.toString(units).length() + 3;
        for (int i = len; i < width; i++) {
            sb.append(' ');
        }
        if (cents < 0) {
            sb.append('-');
        }
        sb.append(units).append('.').append(frac < 10 ? "0" : "").append(frac);
        return sb;
    }

    /** Both renderers must produce the same text; returns a message or null. */
    static String selfCheck() {
        for (long seed = 1; seed <= 8; seed++) {
            String a = renderSlow("acct-" + seed, seed);
            String b = renderFast("acct-" + seed, seed);
            if (!a.equals(b)) {
                return "notification renderers differ for seed " + seed + ":\n" + a + "---\n" + b;
            }
        }
        return null;
    }
}
