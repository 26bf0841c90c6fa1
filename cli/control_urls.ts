/**
 * The controls a CLI may talk to (`controlUrl` lists them, comma-separated):
 * a request goes to the one that answered last, and to the next when no
 * connection could be made to it.
 *
 * @module
 */

import { ConfigError, parseUrlList } from "../lib/config.ts";

/** True when `e` says fetch could not connect (so the request never left). */
function notConnected(e: unknown): boolean {
  if (!(e instanceof TypeError)) return false;
  const text = `${e.message} ${e.cause instanceof Error ? e.cause.message : String(e.cause ?? "")}`;
  return /\((Connect)\)|tcp connect error|dns error|Connection refused/i.test(text);
}

/** Base URLs of the controls, validated, and which one answered last. */
export class ControlUrls {
  readonly #bases: string[];
  #current = 0;

  /** Parses `list` (http(s) URLs separated by commas); throws ConfigError if it holds none. */
  constructor(list: string) {
    this.#bases = parseUrlList(list, "controlUrl").map((url) => url.replace(/\/+$/, ""));
    if (this.#bases.length === 0) throw new ConfigError("controlUrl names no control");
  }

  /** Base URL of the control tried first. */
  get current(): string {
    return this.#bases[this.#current];
  }

  /**
   * fetches `path` from the control tried first, then from the others while
   * no connection can be made (a request a control took is never sent
   * again); throws the last error when none could be reached.
   */
  async send(fetcher: typeof fetch, path: string, init: () => RequestInit): Promise<Response> {
    let error: unknown;
    for (let i = 0; i < this.#bases.length; i++) {
      const at = (this.#current + i) % this.#bases.length;
      try {
        const response = await fetcher(this.#bases[at] + path, init());
        this.#current = at;
        return response;
      } catch (e) {
        error = e;
        if (!notConnected(e)) break;
        this.#current = at;
      }
    }
    throw error;
  }
}

/**
 * `base` verifying TLS against the CA in `caFile` (beside Deno's built-in roots; the config key
 * `key`, `controlCaFile` by default; none: `base` as it is); a file that is
 * missing or holds no certificate is a ConfigError naming it.
 */
export function trustingFetch(
  base: typeof fetch,
  caFile: string | undefined,
  key = "controlCaFile",
): typeof fetch {
  if (caFile === undefined || caFile === "") return base;
  let client: Deno.HttpClient;
  try {
    client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(caFile)] });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ConfigError(`${key}: cannot use ${caFile}: ${reason.split("\n")[0]}`);
  }
  return (input, init) => base(input, { ...init, client });
}
