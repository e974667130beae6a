package pyrite.it;

/**
 * Test workload whose main returns at once: the agent must load, start and shut
 * down inside a JVM that lives only a few milliseconds, without delaying its exit.
 */
public final class QuickExit {
    public static void main(String[] args) {
        System.out.println("quickexit: ok");
    }
}
