/**
 * Checks a host makes at start, before it touches anything (no container,
 * no heartbeat, no route): its listen addresses belong to this machine, and
 * the broker's and the registry's certificates verify against the CA files
 * it was given (a host handed another network's CA stops here, with one
 * line, instead of retrying forever). A broker or registry that does not
 * answer yet is not an error: the host starts and reconnects later.
 *
 * @module
 */

import type { DnConfig } from "../lib/config.ts";
import { parseListen } from "../lib/config.ts";

/** Raised when a host's configuration cannot work on this machine; the message is one line. */
export class PreflightError extends Error {
  override name = "PreflightError";
}

/** How long each TLS check waits for an answer, in ms. */
const CHECK_TIMEOUT_MS = 3000;

/** Every check; throws {@link PreflightError} on the first that fails, returns warnings. */
export async function preflight(config: DnConfig): Promise<string[]> {
  if (config.requestToken !== "") checkLocal(config.hostRequestListen, "hostRequestListen");
  if (config.hostListen !== "") checkLocal(config.hostListen, "hostListen");
  if (config.containerPublishAddress !== "") {
    checkLocal(`${config.containerPublishAddress}:0`, "containerPublishAddress");
  }
  const warnings: string[] = [];
  const amqp = new URL(config.amqpUrl);
  if (amqp.protocol === "amqps:" && config.amqpCaFile !== "") {
    const port = Number(amqp.port || 5671);
    const note = await checkTls(amqp.hostname, port, config.amqpCaFile, "amqpCaFile", null);
    if (note) warnings.push(note);
  }
  if (config.registryCaFile !== "") {
    const { hostname, port } = parseListen(config.registry, "registry");
    const auth = btoa(`${config.registryUser}:${config.registryPassword}`);
    const note = await checkTls(hostname, port, config.registryCaFile, "registryCaFile", auth);
    if (note) warnings.push(note);
  }
  return warnings;
}

/** Fails unless `listen`'s address can be bound here (a wildcard always can). */
function checkLocal(listen: string, key: string): void {
  const { hostname } = parseListen(listen, key);
  try {
    Deno.listen({ hostname, port: 0 }).close();
  } catch (e) {
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new PreflightError(`${key} ${hostname} is not an address of this machine`);
    }
    throw new PreflightError(`${key} ${listen}: ${(e as Error).message}`);
  }
}

/**
 * Opens TLS to `hostname:port` trusting only `caFile`; with `basicAuth`, also
 * asks `GET /v2/` (the registry API) and fails on 401. Returns a warning when
 * nothing answers.
 */
async function checkTls(
  hostname: string,
  port: number,
  caFile: string,
  key: string,
  basicAuth: string | null,
): Promise<string | null> {
  let ca: string;
  try {
    ca = await Deno.readTextFile(caFile);
  } catch (e) {
    throw new PreflightError(`${key} ${caFile}: ${(e as Error).message}`);
  }
  const where = `${hostname}:${port}`;
  let timedOut = false;
  const attempt = (async () => {
    const conn = await Deno.connectTls({ hostname, port, caCerts: [ca] });
    try {
      if (timedOut) return 0;
      await conn.handshake();
      return basicAuth === null ? 200 : await registryStatus(conn, hostname, basicAuth);
    } finally {
      conn.close();
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), CHECK_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([attempt, timeout]);
    if (result === "timeout") {
      timedOut = true;
      attempt.catch(() => {});
      return `${where} did not answer in time; certificate not checked`;
    }
    if (result === 401) throw new PreflightError(`registry ${where} refused the registry user`);
    return null;
  } catch (e) {
    if (e instanceof PreflightError) throw e;
    const message = (e as Error).message.split("\n")[0];
    if (e instanceof Deno.errors.InvalidData || /certificate/i.test(message)) {
      throw new PreflightError(
        `${where} presents a certificate that ${key} ${caFile} does not verify ` +
          `(another network's CA, or a name the certificate lacks): ${message}`,
      );
    }
    return `${where} not reachable yet (${message}); certificate not checked`;
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `GET /v2/` with basic auth on `conn` and returns the status code. */
async function registryStatus(
  conn: Deno.TlsConn,
  hostname: string,
  auth: string,
): Promise<number> {
  const head = `GET /v2/ HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Basic ${auth}\r\n` +
    "connection: close\r\n\r\n";
  await conn.write(new TextEncoder().encode(head));
  const buf = new Uint8Array(64);
  const n = await conn.read(buf);
  const line = new TextDecoder().decode(buf.subarray(0, n ?? 0));
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(line)?.[1] ?? 0);
}
