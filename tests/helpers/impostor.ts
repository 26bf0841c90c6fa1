/**
 * Impostors for the TLS links: a CA with the local CA's subject but its own
 * key, a server certificate it issues for the names the real one carries,
 * and a man in the middle that presents that certificate in front of a real
 * TLS service (forwarding to it over verified TLS, so the only thing wrong
 * is the certificate a client sees).
 *
 * @module
 */

import { issueCert } from "./tls.ts";
import { STATE_DIR } from "./network.ts";

/** An impostor CA and the server certificate it issued. */
export interface Impostor {
  /** The CA certificate, where services may read it ($DN_STATE_DIR/config). */
  caFile: string;
  /** Its PEM text. */
  caPem: string;
  /** Server certificate for localhost and 127.0.0.1. */
  cert: string;
  /** Its key. */
  key: string;
  /** Deletes the files. */
  remove(): Promise<void>;
}

async function openssl(args: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", { args, stdin: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * A self-signed CA with the same subject as the local CA of `stateDir` but
 * its own key (the name alone must not make it trusted), and a server
 * certificate from it for `localhost` and `127.0.0.1`, the names the real
 * server certificate carries.
 */
export async function makeImpostor(stateDir = STATE_DIR): Promise<Impostor> {
  const subject = (await openssl(
    ["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", `${stateDir}/tls/ca.pem`],
  )).trim().replace(/^subject=/, "");
  const slashed = "/" + subject.split(",").reverse().join("/");
  const dir = await Deno.makeTempDir({ prefix: "dn-impostor-ca-" });
  await openssl([
    "req",
    "-x509",
    ..."-newkey rsa:2048 -nodes -days 2 -addext basicConstraints=critical,CA:TRUE".split(" "),
    "-subj",
    slashed,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
  ]);
  const server = await issueCert(
    dir,
    { cert: `${dir}/ca.pem`, key: `${dir}/ca.key` },
    "localhost",
    "server",
    2,
    "DNS:localhost,IP:127.0.0.1",
  );
  const caFile = `${stateDir}/config/test-impostor-ca-${crypto.randomUUID().slice(0, 8)}.pem`;
  await Deno.copyFile(`${dir}/ca.pem`, caFile);
  return {
    caFile,
    caPem: await Deno.readTextFile(caFile),
    cert: server.cert,
    key: server.key,
    remove: async () => {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(caFile).catch(() => {});
    },
  };
}

/**
 * A man in the middle on 127.0.0.1: presents the impostor's certificate to
 * whoever connects and relays the bytes to the real TLS service at
 * `127.0.0.1:upstreamPort` (which it verifies against `upstreamCa`). A
 * client that trusts the impostor gets the real service through it.
 */
export class ImpostorRelay {
  readonly #listener: Deno.TlsListener;
  readonly #conns = new Set<Deno.Conn>();
  /** TLS handshakes clients completed with the impostor. */
  handshakes = 0;
  /** Handshakes clients broke off (they refused the certificate). */
  refused = 0;

  /** Listens at once on a free port. */
  constructor(impostor: Impostor, readonly upstreamPort: number, readonly upstreamCa: string) {
    this.#listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: Deno.readTextFileSync(impostor.cert),
      key: Deno.readTextFileSync(impostor.key),
    });
    this.#accept();
  }

  /** The port the relay listens on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) this.#relay(conn);
    } catch {
      // closed
    }
  }

  async #relay(conn: Deno.TlsConn): Promise<void> {
    this.#conns.add(conn);
    let upstream: Deno.TlsConn | undefined;
    let shaken = false;
    try {
      await conn.handshake();
      shaken = true;
      this.handshakes++;
      upstream = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: this.upstreamPort,
        caCerts: [this.upstreamCa],
      });
      this.#conns.add(upstream);
      await Promise.all([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
    } catch {
      if (!shaken) this.refused++;
    } finally {
      for (const c of [conn, upstream]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch {
          // closed by the pipe
        }
      }
    }
  }

  /** Stops listening and cuts every relayed connection. */
  close(): void {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // gone
      }
    }
  }
}
