/**
 * How far a request to an upstream got when it failed. Each error says what
 * the caller may do next (lib/http1.ts sends every request at most once;
 * README, "Delivery", says which layer decides to send it again):
 *
 * - {@link UpstreamConnectError}: the app never saw the request; it may go
 *   elsewhere, whatever its method.
 * - {@link UpstreamDroppedError}: the app may have run it and answered
 *   nothing; only an idempotent request may go elsewhere.
 * - {@link UpstreamTimeoutError}: the app may still be running it; never sent
 *   again (504).
 * - {@link UpstreamBadResponseError}: the app ran it and answered badly;
 *   never sent again (502 naming the flaw).
 *
 * @module
 */

/** Raised when a request to an upstream fails; see the subclasses. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
}

/** No connection could be made, or none took a byte of the request: it never left. */
export class UpstreamConnectError extends UpstreamError {
  override name = "UpstreamConnectError";
}

/**
 * The request went out (wholly or in part) and the connection ended before
 * any byte of a response: the app may have run it.
 */
export class UpstreamDroppedError extends UpstreamError {
  override name = "UpstreamDroppedError";
}

/** No complete response within the time allowed: the app may still be running the request. */
export class UpstreamTimeoutError extends UpstreamError {
  override name = "UpstreamTimeoutError";
}

/**
 * The app answered, but not with a valid HTTP/1.1 response (an invalid status
 * line, a head over the limit, a broken body), or broke off mid-response.
 * The message names the flaw.
 */
export class UpstreamBadResponseError extends UpstreamError {
  override name = "UpstreamBadResponseError";
}

/** The app's response body is larger than allowed. */
export class UpstreamTooLargeError extends UpstreamBadResponseError {
  override name = "UpstreamTooLargeError";
}

/**
 * The request body's source failed while it was being sent (the client's
 * body broke off, went over a limit, or was too slow): not the upstream's
 * fault. `cause` is the source's error.
 */
export class RequestBodyError extends Error {
  override name = "RequestBodyError";
  /** Wraps the source's error `cause`. */
  constructor(override readonly cause: unknown) {
    super(`request body failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
