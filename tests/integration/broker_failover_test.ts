/**
 * A Broker given several nodes moves to the next at once: when its node is
 * lost (here a TCP proxy in front of the shared RabbitMQ that drops every
 * connection and stops listening) and when the first node refuses it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort, infraConfig } from "../helpers/network.ts";
import { Broker } from "../../lib/amqp.ts";
import { Logger } from "../../lib/log.ts";

/** A TCP proxy to `target` that can die like a broker node. */
class Proxy {
  readonly port = freePort();
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  accepted = 0;
  #dead = false;

  constructor(readonly target: { hostname: string; port: number }) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#accept();
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      this.accepted++;
      const upstream = await Deno.connect(this.target);
      this.#conns.add(conn).add(upstream);
      const close = () => {
        for (const c of [conn, upstream]) {
          this.#conns.delete(c);
          try {
            c.close();
          } catch {
            // closed already
          }
        }
      };
      conn.readable.pipeTo(upstream.writable).catch(() => {}).finally(close);
      upstream.readable.pipeTo(conn.writable).catch(() => {}).finally(close);
    }
  }

  /** Stops listening and drops every connection, as a killed node does. */
  kill(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    this.#conns.clear();
  }
}

function viaProxy(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}

const { amqpUrl, amqpCaFile } = infraConfig("test-host");
const target = { hostname: new URL(amqpUrl).hostname, port: Number(new URL(amqpUrl).port) };

function broker(url: string, onConnect: () => void): Broker {
  return new Broker({
    url,
    caFile: amqpCaFile,
    name: "dn-test-failover",
    log: new Logger("test", "error"),
    onConnect: () => Promise.resolve(onConnect()),
  });
}

Deno.test("broker list: a lost node is replaced by the next within 1 s", async () => {
  const first = new Proxy(target);
  const second = new Proxy(target);
  let connects = 0;
  const b = broker(
    [viaProxy(amqpUrl, first.port), viaProxy(amqpUrl, second.port)].join(","),
    () => connects++,
  );
  try {
    await b.start();
    assertEquals([first.accepted, second.accepted, connects], [1, 0, 1]);
    const lost = performance.now();
    first.kill();
    while (b.ready) await new Promise((r) => setTimeout(r, 1));
    assert(await b.whenReady(1000), "not reconnected within 1 s");
    const ms = performance.now() - lost;
    assertEquals([second.accepted, connects], [1, 2]);
    assert(ms < 1000, `reconnected after ${ms} ms`);
  } finally {
    await b.stop();
    first.kill();
    second.kill();
  }
});

Deno.test("broker list: a node that refuses is skipped at once", async () => {
  const live = new Proxy(target);
  const started = performance.now();
  const b = broker(
    [viaProxy(amqpUrl, freePort()), viaProxy(amqpUrl, live.port)].join(","),
    () => {},
  );
  try {
    await b.start();
    const ms = performance.now() - started;
    assertEquals(live.accepted, 1);
    assert(ms < 1000, `connected after ${ms} ms`);
  } finally {
    await b.stop();
    live.kill();
  }
});
