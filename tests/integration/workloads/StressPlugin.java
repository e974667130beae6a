package pyrite.it;

import java.util.function.LongUnaryOperator;

/**
 * Code that {@link Stress} defines again and again in fresh class loaders (it reads this
 * class's and its nested classes' bytes from the class path and calls
 * {@code defineClass}), so classes load, get JIT-compiled, get deoptimised and unload
 * continuously while the agent samples them. Never loaded by the application loader.
 *
 * <p>One {@link #applyAsLong} call, in a loader of its own, does in this order:
 * <ol>
 *   <li>phase A: {@link #drive} with only {@link A} loaded. {@link Base} then has a single
 *       concrete subclass, so the JIT may inline {@code A.f} on class-hierarchy analysis
 *       (a dependency on the hierarchy);</li>
 *   <li>phase B: {@link BMaker} loads {@link B}: the hierarchy changes, compiled code that
 *       depended on it is deoptimised, and the call site sees a second receiver type
 *       (type profile pollution: an uncommon trap on the class check);</li>
 *   <li>phase C: a third type (megamorphic), with a longer loop whose rare branch was
 *       never taken before (an unstable-if uncommon trap);</li>
 *   <li>exceptions thrown and caught in the hot loop, and a lambda (a hidden class that
 *       belongs to this loader and unloads with it).</li>
 * </ol>
 * The result depends only on the seed, never on what was compiled when.
 */
public final class StressPlugin implements LongUnaryOperator {
    abstract static class Base {
        abstract long f(long x);
    }

    static final class A extends Base {
        @Override
        long f(long x) {
            return x * 0x9E3779B97F4A7C15L + 1;
        }
    }

    static final class B extends Base {
        @Override
        long f(long x) {
            return Long.rotateLeft(x, 13) ^ 0x5bd1e995L;
        }
    }

    static final class C extends Base {
        @Override
        long f(long x) {
            return x + (x >>> 7) + 3;
        }
    }

    /** Only linking this class loads B (the verifier of StressPlugin never sees B). */
    static final class BMaker {
        static Base make() {
            return new B();
        }
    }

    static final class CMaker {
        static Base make() {
            return new C();
        }
    }

    static long drive(Base b, long x, int n) {
        for (int i = 0; i < n; i++) {
            x = b.f(x) + i;
            if (i >= 600) { // taken only in phase C: an unstable-if trap once compiled
                x ^= x >>> 17;
            }
        }
        return x;
    }

    static long thrower(long x, int i) {
        if ((i & 15) == 7) {
            throw new IllegalStateException(i % 3 == 0 ? "three" : "other");
        }
        return x * 31 + i;
    }

    @Override
    public long applyAsLong(long seed) {
        long h = seed;
        Base a = new A();
        for (int r = 0; r < 30; r++) {
            h = drive(a, h, 500);
        }
        Base b = BMaker.make();
        for (int r = 0; r < 30; r++) {
            h = drive((r & 1) == 0 ? a : b, h, 500);
        }
        Base c = CMaker.make();
        for (int r = 0; r < 30; r++) {
            Base[] all = {a, b, c};
            h = drive(all[r % 3], h, 800);
        }
        for (int i = 0; i < 2000; i++) {
            try {
                h = thrower(h, i);
            } catch (IllegalStateException e) {
                h = h * 17 + e.getMessage().length();
            }
        }
        LongUnaryOperator mix = x -> x * 31 + 7;
        for (int i = 0; i < 1000; i++) {
            h = mix.applyAsLong(h);
        }
        return h;
    }
}
