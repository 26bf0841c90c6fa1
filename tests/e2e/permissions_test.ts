/**
 * RabbitMQ users per role (scripts/infra's permission table): each role's
 * credentials, from the test configs, connect with amqp-client directly and
 * try what the role must not do. The broker refuses with ACCESS_REFUSED (403)
 * and closes the channel; a positive control per role shows the refusals are
 * about permissions, not a broken connection.
 *
 * Probes use the test vhost and app names no network uses, so a permission
 * that wrongly held would publish only harmless, unroutable messages.
 */
import { AMQPClient } from "@cloudamqp/amqp-client";
import type { AMQPChannel } from "@cloudamqp/amqp-client";
import { assert, assertMatch } from "../helpers/assert.ts";
import { infraConfig } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

type Role = "control" | "gateway" | "host";
const PROBE = `permission-probe-${crypto.randomUUID().slice(0, 8)}`;
const COMMANDS = ["start", "stop", "remove", "update", "status", "logs"];

function roleUrl(role: Role): string {
  return infraConfig(`test-${role}`).amqpUrl;
}

/** The broker's TLS: verified against the local CA, as the services do. */
const TLS = { ca: [Deno.readTextFileSync(infraConfig("test-gateway").amqpCaFile)] };

/** Runs `fn` with a connection as `role`'s user. */
async function asRole<T>(role: Role, fn: (client: AMQPClient) => Promise<T>): Promise<T> {
  const client = new AMQPClient(roleUrl(role), TLS, null);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    if (!client.closed) await client.close().catch(() => {});
  }
}

/**
 * Runs `op` on a fresh channel and returns the broker's refusal; fails when
 * the broker accepts. Publishes use confirms, so an accepted publish resolves
 * and a refused one rejects with the channel's closing reason.
 */
async function refused(
  client: AMQPClient,
  what: string,
  op: (ch: AMQPChannel) => Promise<unknown>,
): Promise<string> {
  const ch = await client.channel();
  await ch.confirmSelect();
  try {
    await op(ch);
  } catch (e) {
    const message = (e as Error).message;
    assertMatch(message, /ACCESS_REFUSED.*\(403\)/, what);
    assert(ch.closed, `${what}: the broker closed the channel`);
    return message;
  }
  throw new Error(`${what} was allowed`);
}

/** Runs `op` on a fresh channel and fails when the broker refuses. */
async function allowed(
  client: AMQPClient,
  what: string,
  op: (ch: AMQPChannel) => Promise<unknown>,
): Promise<void> {
  const ch = await client.channel();
  await ch.confirmSelect();
  try {
    await op(ch);
  } catch (e) {
    throw new Error(`${what} should be allowed: ${(e as Error).message}`);
  }
  await ch.close().catch(() => {});
}

const publish = (exchange: string, key: string) => (ch: AMQPChannel) =>
  ch.basicPublish(exchange, key, JSON.stringify({ probe: true }));

reliabilityTest("permissions: the gateway user cannot publish commands", {
  fault: "dn-gateway publishes start/stop/remove/update/status/logs.<app> on exchange dn",
  expected: "each refused with ACCESS_REFUSED (channel closed); request.<app> still allowed",
}, async (note) => {
  let last = "";
  await asRole("gateway", async (client) => {
    for (const command of COMMANDS) {
      last = await refused(client, `gateway ${command}`, publish("dn", `${command}.${PROBE}`));
      assert(last.includes(`'${command}.${PROBE}'`), last);
    }
    await allowed(client, "gateway request", publish("dn", `request.${PROBE}`));
  });
  note(`${COMMANDS.length}/${COMMANDS.length} refused: ${last}`);
});

reliabilityTest("permissions: the host user cannot publish to the exchange", {
  fault: "dn-host publishes every command and request.<app> on exchange dn",
  expected: "each refused with ACCESS_REFUSED; replies through the default exchange allowed",
}, async (note) => {
  let last = "";
  await asRole("host", async (client) => {
    for (const command of [...COMMANDS, "request"]) {
      last = await refused(client, `host ${command}`, publish("dn", `${command}.${PROBE}`));
      assert(last.includes("exchange 'dn'"), last);
    }
    // Replies go to the caller's reply-to through the default exchange.
    await allowed(client, "host reply", publish("", `amq.gen-${PROBE}`));
  });
  note(`${COMMANDS.length + 1}/${COMMANDS.length + 1} refused: ${last}`);
});

reliabilityTest("permissions: the gateway user cannot declare or consume queues", {
  fault: "dn-gateway declares a named queue, a server-named queue, an app queue; " +
    "consumes an app's request queue",
  expected: "each refused with ACCESS_REFUSED (it only publishes and reads direct reply-to)",
}, async (note) => {
  const refusals: string[] = [];
  await asRole("gateway", async (client) => {
    refusals.push(
      await refused(client, "gateway named queue", (ch) => ch.queueDeclare(`dn.gateway.${PROBE}`)),
      await refused(client, "gateway server-named queue", (ch) => ch.queueDeclare("")),
      await refused(client, "gateway app queue", (ch) => ch.queueDeclare(`dn.app.${PROBE}`)),
      await refused(
        client,
        "gateway consumes an app queue",
        (ch) => ch.basicConsume(`dn.app.${PROBE}`, { noAck: true }, () => {}),
      ),
    );
  });
  note(`4/4 refused: ${refusals[0]}`);
});

reliabilityTest("permissions: the control user cannot publish requests or touch host queues", {
  fault: "dn-control publishes request.<app>, declares a host queue and an app queue",
  expected: "each refused with ACCESS_REFUSED; its own server-named queue allowed",
}, async (note) => {
  const refusals: string[] = [];
  await asRole("control", async (client) => {
    refusals.push(
      await refused(client, "control request", publish("dn", `request.${PROBE}`)),
      await refused(client, "control host queue", (ch) => ch.queueDeclare(`dn.host.${PROBE}`)),
      await refused(client, "control app queue", (ch) => ch.queueDeclare(`dn.app.${PROBE}`)),
    );
    await allowed(
      client,
      "control reply queue",
      (ch) => ch.queueDeclare("", { exclusive: true, autoDelete: true }),
    );
  });
  note(`3/3 refused: ${refusals[0]}`);
});

reliabilityTest("permissions: no role can forge another's user_id", {
  fault: "dn-host and dn-gateway publish with the user_id property set to dn-control",
  expected: "refused by the broker (PRECONDITION_FAILED, 406): user_id names the real sender",
}, async (note) => {
  let last = "";
  for (
    const [role, exchange, key] of [
      ["host", "", `amq.gen-${PROBE}`],
      ["gateway", "dn", `request.${PROBE}`],
    ] as const
  ) {
    await asRole(role, async (client) => {
      const ch = await client.channel();
      await ch.confirmSelect();
      try {
        await ch.basicPublish(exchange, key, "{}", { userId: "dn-control" });
      } catch (e) {
        last = (e as Error).message;
        assertMatch(last, /PRECONDITION_FAILED - user_id property set to 'dn-control'.*\(406\)/);
        return;
      }
      throw new Error(`${role} published as dn-control`);
    });
  }
  note(`2/2 refused: ${last}`);
});

reliabilityTest("permissions: guest, wrong passwords and foreign vhosts are refused", {
  fault: "log in as guest/guest, as dn-gateway with a wrong password, as dn-gateway to vhost /",
  expected: "each login refused (ACCESS_REFUSED / NOT_ALLOWED); no connection opens",
}, async (note) => {
  const gateway = new URL(roleUrl("gateway"));
  const attempts: Record<string, string> = {};
  const guest = new URL(gateway);
  guest.username = "guest";
  guest.password = "guest";
  const wrongPassword = new URL(gateway);
  wrongPassword.password = `wrong-${crypto.randomUUID()}`;
  const rootVhost = new URL(gateway);
  rootVhost.pathname = "/%2F";
  for (const [label, url] of Object.entries({ guest, wrongPassword, rootVhost })) {
    const client = new AMQPClient(url.toString(), TLS, null);
    try {
      await client.connect();
      await client.close();
      throw new Error(`${label} login was accepted`);
    } catch (e) {
      const message = (e as Error).message;
      if (message.endsWith("was accepted")) throw e;
      attempts[label] = message;
    }
  }
  assertMatch(attempts.guest, /ACCESS_REFUSED - Login was refused/);
  assertMatch(attempts.wrongPassword, /ACCESS_REFUSED - Login was refused/);
  assertMatch(attempts.rootVhost, /NOT_ALLOWED|ACCESS_REFUSED|access to vhost/i);
  assert(!attempts.wrongPassword.includes(wrongPassword.password), "no password in the error");
  note(`guest: ${attempts.guest.replace(/ For details.*/, "")}; vhost /: ${attempts.rootVhost}`);
});

reliabilityTest("permissions: a host cannot command another host through its queue", {
  fault:
    "dn-host publishes a well-formed start command straight into another host's queue (default exchange)",
  expected: "the receiving host drops it (not from control's user) and creates no container",
}, async (note) => {
  const { startNetwork } = await import("../helpers/network.ts");
  const { encodeCommand, COMMAND_TYPE } = await import("../../lib/commands.ts");
  const net = await startNetwork();
  try {
    const victim = net.hostNames[0];
    await asRole("host", async (client) => {
      const ch = await client.channel();
      await ch.basicPublish("", `dn.host.${victim}`, encodeCommand({ kind: "start", app: PROBE }), {
        type: COMMAND_TYPE,
      });
    });
    await net.services.get(victim)!.waitFor("not published by control's user", 10_000);
    const containers = await net.docker.listContainers({ "network.dn.app": PROBE }, true);
    note(`dropped by ${victim}; ${containers.length} containers for the probe app`);
    assert(containers.length === 0, "no container created");
  } finally {
    await net.stop();
  }
});
