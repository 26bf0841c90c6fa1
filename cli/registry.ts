/**
 * Checks registry credentials before a push (the seed's `Login Succeeded`),
 * with the registry's own API: `GET /v2/` with Basic auth.
 *
 * Only a definite answer counts: 200 means the credentials work, a 401 with a
 * `Basic` challenge means they were rejected. A registry that cannot be
 * reached or speaks another auth scheme gives `unknown`, and the push (done by
 * the Docker engine, with its own view of TLS) decides.
 *
 * @module
 */

/** Outcome of a login check. */
export type LoginResult = "ok" | "rejected" | "unknown";

/** True when `registry` (`host:port`) names this machine. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[")
    ? registry.slice(0, registry.indexOf("]") + 1)
    : registry.split(":")[0];
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Asks the registry whether `user`/`password` may log in. Loopback registries
 * are tried over HTTP first (as the Docker engine treats them as insecure),
 * others over HTTPS first.
 *
 * @example
 * ```ts
 * if (await checkRegistryLogin("127.0.0.1:5055", "dn", password) === "rejected") {
 *   throw new Error("bad credentials");
 * }
 * ```
 */
export async function checkRegistryLogin(
  registry: string,
  user: string,
  password: string,
  fetchFn: typeof fetch = fetch,
  timeoutMs = 10_000,
): Promise<LoginResult> {
  const schemes = isLoopbackRegistry(registry) ? ["http", "https"] : ["https", "http"];
  const authorization = "Basic " +
    btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
  for (const scheme of schemes) {
    let response: Response;
    try {
      response = await fetchFn(`${scheme}://${registry}/v2/`, {
        headers: { authorization },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      continue;
    }
    await response.body?.cancel();
    if (response.status === 200) return "ok";
    if (response.status === 401) {
      const challenge = response.headers.get("www-authenticate") ?? "";
      return /^basic\b/i.test(challenge) ? "rejected" : "unknown";
    }
  }
  return "unknown";
}
