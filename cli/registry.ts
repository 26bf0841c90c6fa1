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

/** Manifest types the registry may hold an app's image as (`Accept` of a manifest request). */
const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

/** Registry credentials and where it is. */
export interface RegistryAccess {
  /** `host:port`. */
  registry: string;
  /** User name ("" for none). */
  user: string;
  /** Password. */
  password: string;
  /** fetch to use. */
  fetch: typeof fetch;
}

/**
 * Deletes every tag of repository `name` from the registry (each tag's
 * manifest, by digest, with the Registry API's `DELETE`) and returns the
 * tags deleted; a repository the registry does not know gives `[]`. The
 * layers stay on disk until the registry's garbage collection
 * (`scripts/infra gc`). Throws a one-line error when the registry refuses.
 *
 * @example
 * ```ts ignore
 * await deleteRepository({ registry: "127.0.0.1:5055", user: "dn", password, fetch }, "blog");
 * ```
 */
export async function deleteRepository(access: RegistryAccess, name: string): Promise<string[]> {
  const base = await registryBase(access);
  const headers: Record<string, string> = access.user === "" ? {} : {
    authorization: "Basic " +
      btoa(String.fromCharCode(...new TextEncoder().encode(`${access.user}:${access.password}`))),
  };
  const call = async (method: string, path: string, accept?: string) => {
    const response = await access.fetch(`${base}/v2/${name}${path}`, {
      method,
      headers: accept ? { ...headers, accept } : headers,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { response, text };
  };
  const list = await call("GET", "/tags/list");
  if (list.response.status === 404) return [];
  if (!list.response.ok) {
    throw new Error(`registry ${access.registry} answered ${list.response.status} listing ${name}`);
  }
  const tags = (JSON.parse(list.text) as { tags?: unknown }).tags;
  const deleted: string[] = [];
  for (const tag of Array.isArray(tags) ? tags.filter((t) => typeof t === "string") : []) {
    const head = await call("HEAD", `/manifests/${encodeURIComponent(tag)}`, MANIFEST_TYPES);
    const digest = head.response.headers.get("docker-content-digest");
    if (head.response.status === 404 || digest === null) continue; // gone with a shared digest
    const gone = await call("DELETE", `/manifests/${digest}`);
    if (gone.response.status !== 202 && gone.response.status !== 404) {
      throw new Error(
        `registry ${access.registry} answered ${gone.response.status} deleting ${name}:${tag}`,
      );
    }
    deleted.push(tag);
  }
  return deleted;
}

/** `http://host:port` or `https://host:port`: the scheme the registry answers `/v2/` on. */
async function registryBase(access: RegistryAccess): Promise<string> {
  const schemes = isLoopbackRegistry(access.registry) ? ["http", "https"] : ["https", "http"];
  for (const scheme of schemes) {
    try {
      const response = await access.fetch(`${scheme}://${access.registry}/v2/`, {
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      // An HTTPS-only registry answers plain HTTP with 400: not this scheme.
      if (response.status === 200 || response.status === 401) {
        return `${scheme}://${access.registry}`;
      }
    } catch {
      // try the other scheme
    }
  }
  throw new Error(`cannot reach registry ${access.registry}`);
}
