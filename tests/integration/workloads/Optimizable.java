package pyrite.it;

import java.security.MessageDigest;

/**
 * A hot path with a well-known fix, for before/after (diff) tests.
 *
 * Unoptimized, every call looks the digest up with
 * MessageDigest.getInstance (a provider search that allocates and locks);
 * with --optimized each thread reuses one cached instance.  The hashing work
 * is the same, so the diff should show getInstance's share collapse.
 *
 * Usage: Optimizable --seconds N [--optimized]
 */
public final class Optimizable {
  private static final ThreadLocal<MessageDigest> CACHED =
      ThreadLocal.withInitial(Optimizable::newDigest);
  static volatile long sink;

  private static MessageDigest newDigest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static byte[] hash(byte[] payload, boolean optimized) {
    MessageDigest md = optimized ? CACHED.get() : newDigest();
    md.reset();
    return md.digest(payload);
  }

  public static void main(String[] args) throws Exception {
    double seconds = 4;
    boolean optimized = false;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--seconds")) seconds = Double.parseDouble(args[++i]);
      else if (args[i].equals("--optimized")) optimized = true;
    }
    byte[] payload = new byte[64];
    long end = System.nanoTime() + (long) (seconds * 1e9);
    long calls = 0;
    while (System.nanoTime() < end) {
      payload[(int) (calls & 63)]++;
      sink += hash(payload, optimized)[0];
      calls++;
    }
    System.out.println("optimizable: optimized=" + optimized + " calls=" + calls);
  }
}
