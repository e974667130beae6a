package pyrite.examples.bank;

import java.util.Map;

/**
 * One bank service behind a path of {@link BankApp}'s HTTP server.
 *
 * <p>Implementations are called concurrently from the server's worker threads
 * ({@code bank-http-N}); each keeps its own thread-safety. {@code handle} returns
 * the response body (text); throwing makes the request a 500.
 */
interface Service {
    /** Path segment and name, e.g. {@code payment} for {@code /payment}. */
    String name();

    /** Handles one request; {@code query} holds the decoded query parameters. */
    String handle(Map<String, String> query) throws Exception;
}
