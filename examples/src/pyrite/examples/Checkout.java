package pyrite.examples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small demo "checkout service" for Pyrite's flame graphs.
 *
 * <p>Four worker threads each do one distinct kind of work, so the profile has
 * four clearly separated towers:
 * <ul>
 *   <li>{@code pricing}: {@link PriceCalculator#computeDiscounts} - arithmetic (the hottest)</li>
 *   <li>{@code render}: {@link JsonRenderer#renderOrder} - JSON-ish string building</li>
 *   <li>{@code inventory}: {@link InventorySorter#sortByPriority} - sorting with a comparator</li>
 *   <li>{@code intake}: {@link OrderFactory#newCart} - allocation of short-lived objects</li>
 * </ul>
 * Each worker does a batch and then pauses briefly, so the process uses roughly
 * {@code 4 * busy / (busy + pause)} CPUs rather than saturating the machine.
 * The main thread prints one status line every {@code --status-every} seconds.
 *
 * <p>Usage: {@code java -cp examples/out pyrite.examples.Checkout [--seconds N]
 * [--pause-ms MS] [--status-every S]}. Without {@code --seconds} it runs until killed.
 * No external dependencies; seeded random inputs, so runs are repeatable in shape.
 */
public final class Checkout {
    static final AtomicLong ORDERS = new AtomicLong();
    static final AtomicLong PRICED = new AtomicLong();
    static final AtomicLong JSON_BYTES = new AtomicLong();
    static final AtomicLong SORTED = new AtomicLong();
    static final AtomicLong CARTS = new AtomicLong();
    static volatile long sink;
    static volatile boolean running = true;

    public static void main(String[] args) throws InterruptedException {
        double seconds = -1;
        long pauseMs = 5;
        double statusEvery = 5;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Double.parseDouble(args[++i]); break;
                case "--pause-ms": pauseMs = Long.parseLong(args[++i]); break;
                case "--status-every": statusEvery = Double.parseDouble(args[++i]); break;
                case "-h": case "--help":
                    System.out.println("usage: Checkout [--seconds N] [--pause-ms MS] [--status-every S]");
                    return;
                default:
                    System.err.println("checkout: unknown argument " + args[i]);
                    System.exit(2);
            }
        }
        final long pause = pauseMs;
        List<Thread> workers = new ArrayList<>();
        workers.add(worker("pricing", pause, new PricingJob()));
        workers.add(worker("render", pause, new RenderJob()));
        workers.add(worker("inventory", pause, new InventoryJob()));
        workers.add(worker("intake", pause, new IntakeJob()));
        workers.forEach(Thread::start);

        long start = System.nanoTime();
        long end = seconds > 0 ? start + (long) (seconds * 1e9) : Long.MAX_VALUE;
        long statusNs = (long) (statusEvery * 1e9);
        long nextStatus = start + statusNs;
        System.out.println("checkout: started pid=" + ProcessHandle.current().pid()
                + " workers=pricing,render,inventory,intake"
                + (seconds > 0 ? " seconds=" + seconds : " (runs until killed)"));
        while (true) {
            long now = System.nanoTime();
            if (now >= end) {
                status(start);
                break;
            }
            long wake = Math.min(end, nextStatus);
            Thread.sleep(Math.max(1, (wake - now) / 1_000_000));
            if (System.nanoTime() >= nextStatus && System.nanoTime() < end) {
                status(start);
                nextStatus += statusNs;
            }
        }
        running = false;
        for (Thread t : workers) t.join();
        System.out.println("checkout: stopped");
    }

    static void status(long start) {
        long up = (System.nanoTime() - start) / 1_000_000_000L;
        System.out.println("checkout: uptime=" + up + "s orders=" + ORDERS.get()
                + " priced=" + PRICED.get() + " json_bytes=" + JSON_BYTES.get()
                + " sorted=" + SORTED.get() + " carts=" + CARTS.get());
    }

    interface Job {
        void batch(Random rnd);
    }

    static Thread worker(String name, long pauseMs, Job job) {
        Thread t = new Thread(() -> {
            Random rnd = new Random(name.hashCode());
            while (running) {
                job.batch(rnd);
                if (pauseMs > 0) {
                    try {
                        Thread.sleep(pauseMs);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }, name);
        t.setDaemon(true);
        return t;
    }

    static final class PricingJob implements Job {
        final PriceCalculator calc = new PriceCalculator();
        final Cart[] carts = new Cart[64];

        @Override
        public void batch(Random rnd) {
            for (int i = 0; i < carts.length; i++) carts[i] = OrderFactory.newCart(rnd, 40);
            long total = 0;
            for (int round = 0; round < 20; round++) {
                for (Cart c : carts) total += calc.computeDiscounts(c);
            }
            sink = total;
            PRICED.addAndGet(carts.length * 20L);
        }
    }

    static final class RenderJob implements Job {
        final JsonRenderer renderer = new JsonRenderer();

        @Override
        public void batch(Random rnd) {
            long bytes = 0;
            for (int i = 0; i < 100; i++) {
                Cart c = OrderFactory.newCart(rnd, 20);
                long id = ORDERS.incrementAndGet();
                for (int copy = 0; copy < 8; copy++) {  // order page, receipt, audit log, ...
                    bytes += renderer.renderOrder(id, c).length();
                }
            }
            JSON_BYTES.addAndGet(bytes);
        }
    }

    static final class InventoryJob implements Job {
        final InventorySorter sorter = new InventorySorter();

        @Override
        public void batch(Random rnd) {
            Sku[] skus = InventorySorter.randomSkus(rnd, 10_000);
            sorter.sortByPriority(skus);
            sink = skus[0].id;
            SORTED.addAndGet(skus.length);
        }
    }

    static final class IntakeJob implements Job {
        @Override
        public void batch(Random rnd) {
            Map<String, List<Cart>> byRegion = new HashMap<>();
            for (int i = 0; i < 2_000; i++) {
                Cart c = OrderFactory.newCart(rnd, 8);
                byRegion.computeIfAbsent(c.region, k -> new ArrayList<>()).add(c);
            }
            sink = byRegion.size();
            CARTS.addAndGet(2_000);
        }
    }
}

final class Item {
    final String sku;
    final int quantity;
    final long unitCents;
    final int category;

    Item(String sku, int quantity, long unitCents, int category) {
        this.sku = sku;
        this.quantity = quantity;
        this.unitCents = unitCents;
        this.category = category;
    }
}

final class Cart {
    final String customer;
    final String region;
    final int loyaltyTier;
    final List<Item> items;

    Cart(String customer, String region, int loyaltyTier, List<Item> items) {
        this.customer = customer;
        this.region = region;
        this.loyaltyTier = loyaltyTier;
        this.items = items;
    }
}

final class Sku {
    final long id;
    final int priority;
    final double velocity;
    final String name;

    Sku(long id, int priority, double velocity, String name) {
        this.id = id;
        this.priority = priority;
        this.velocity = velocity;
        this.name = name;
    }
}

/** Allocation-heavy: builds carts of items from seeded random data. */
final class OrderFactory {
    static final String[] REGIONS = {"eu-west", "eu-north", "us-east", "us-west", "ap-south"};

    static Cart newCart(Random rnd, int maxItems) {
        int n = 1 + rnd.nextInt(maxItems);
        List<Item> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            items.add(new Item("SKU-" + rnd.nextInt(100_000), 1 + rnd.nextInt(5),
                    99 + rnd.nextInt(50_000), rnd.nextInt(8)));
        }
        return new Cart("cust-" + rnd.nextInt(10_000), REGIONS[rnd.nextInt(REGIONS.length)],
                rnd.nextInt(4), items);
    }
}

/** The hot CPU method: tiered discounts, tax and rounding in long arithmetic. */
final class PriceCalculator {
    static final int[] CATEGORY_TAX_BP = {2000, 700, 1900, 2100, 550, 1000, 2500, 0};

    long computeDiscounts(Cart cart) {
        long total = 0;
        for (Item it : cart.items) {
            long line = it.unitCents * it.quantity;
            for (int step = 0; step < 32; step++) {
                line = applyTieredRate(line, cart.loyaltyTier, it.category, step);
            }
            long tax = line * CATEGORY_TAX_BP[it.category] / 10_000;
            total += roundCents(line + tax);
        }
        return total;
    }

    private static long applyTieredRate(long cents, int tier, int category, int step) {
        long bp = 10_000 - (tier * 125L) - ((category * 37L + step) % 50);
        long v = cents * bp;
        v = (v + 5_000) / 10_000;
        return v > 0 ? v : 1;
    }

    private static long roundCents(long cents) {
        long r = cents % 5;
        return r < 3 ? cents - r : cents + (5 - r);
    }
}

/** JSON-ish rendering with a StringBuilder and a hand-rolled escaper. */
final class JsonRenderer {
    String renderOrder(long orderId, Cart cart) {
        StringBuilder sb = new StringBuilder(256);
        sb.append('{');
        appendField(sb, "order", Long.toString(orderId)).append(',');
        appendField(sb, "customer", cart.customer).append(',');
        appendField(sb, "region", cart.region).append(',');
        sb.append("\"items\":[");
        for (int i = 0; i < cart.items.size(); i++) {
            Item it = cart.items.get(i);
            if (i > 0) sb.append(',');
            sb.append('{');
            appendField(sb, "sku", it.sku).append(',');
            sb.append("\"qty\":").append(it.quantity).append(',');
            sb.append("\"price\":\"").append(it.unitCents / 100).append('.');
            long c = it.unitCents % 100;
            if (c < 10) sb.append('0');
            sb.append(c).append("\"}");
        }
        sb.append("]}");
        return sb.toString();
    }

    private static StringBuilder appendField(StringBuilder sb, String key, String value) {
        sb.append('"').append(key).append("\":\"");
        escape(sb, value);
        return sb.append('"');
    }

    private static void escape(StringBuilder sb, String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                default:
                    if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                    else sb.append(ch);
            }
        }
    }
}

/** Sorting: orders SKUs by priority, then velocity, then name. */
final class InventorySorter {
    static final Comparator<Sku> BY_PRIORITY = InventorySorter::comparePriority;

    static Sku[] randomSkus(Random rnd, int n) {
        Sku[] skus = new Sku[n];
        for (int i = 0; i < n; i++) {
            skus[i] = new Sku(rnd.nextLong(), rnd.nextInt(10), rnd.nextDouble() * 100,
                    "item-" + rnd.nextInt(1_000));
        }
        return skus;
    }

    void sortByPriority(Sku[] skus) {
        Arrays.sort(skus, BY_PRIORITY);
    }

    static int comparePriority(Sku a, Sku b) {
        int c = Integer.compare(b.priority, a.priority);
        if (c != 0) return c;
        c = Double.compare(b.velocity, a.velocity);
        if (c != 0) return c;
        return a.name.compareTo(b.name);
    }
}
