package pyrite.it;

/**
 * The Java side of {@code tests/integration/jni/stress_jni.c}, for {@link Stress}: the
 * native {@link #spin} hashes in C and calls {@link #callback} every {@code every}
 * iterations, so stacks have native frames in the middle (Java -> C -> Java), and with
 * {@code nest > 0} the callback calls {@code spin} again (Java -> C -> Java -> C -> Java).
 * Some callbacks throw; the C side checks for and clears the exception. Deterministic:
 * the result depends only on the arguments.
 */
final class StressNative {
    static volatile long callbacks;

    private StressNative() {
    }

    /** Implemented in stress_jni.c (System.load'ed by Stress). */
    static native long spin(long iters, int every, int nest);

    /** Called from C. Throws for one hash in eight; C clears it and counts it. */
    static long callback(long x, int nest) {
        callbacks++;
        long h = x;
        for (int i = 0; i < 2000; i++) {
            h = (h ^ i) * 0x100000001B3L;
        }
        if (nest > 0) {
            h ^= spin(3000, 1000, nest - 1);
        }
        if ((x & 7) == 0) {
            throw new IllegalStateException("callback " + (x & 0xff));
        }
        return h;
    }
}
