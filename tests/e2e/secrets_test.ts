/**
 * No secret is logged or printed: a network runs a deploy through the `dn`
 * CLI, serves requests (inline and Redis-borne bodies), and goes through
 * error paths (wrong token, wrong registry password, a gateway with wrong
 * AMQP and Redis passwords). Every service log (debug level) and every CLI
 * output is then searched for the control token, the request token, the registry password and
 * the AMQP and Redis passwords of the config files, the wrong ones the test
 * made up, and their base64 forms (registry auth travels base64-encoded).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { type CliResult, infraConfig, ROOT, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { httpsGet, issueCert, makeCa } from "../helpers/tls.ts";

const NAME = `secrets-${crypto.randomUUID().slice(0, 6)}`;
const HOSTNAME = `${NAME}.dn.test`;
let net: TestNetwork;
let dir: string;
/** Every CLI run, labelled, for the final search. */
const cliRuns: [string, CliResult][] = [];
/** A line of the HTTPS certificate's private key, once set. */
let certKeyLine = "";
/** Secrets the test invents for the error paths. */
const WRONG = {
  token: `wrong-token-${crypto.randomUUID()}`,
  registryPassword: `wrong-registry-${crypto.randomUUID()}`,
  amqpPassword: `wrong-amqp-${crypto.randomUUID().replaceAll("-", "")}`,
  redisPassword: `wrong-redis-${crypto.randomUUID().replaceAll("-", "")}`,
};

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-secrets-" });
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/apps/echo/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME      ${NAME}\nAPP_HOSTNAME  ${HOSTNAME}\nAPP_PORT      8000\n`,
  );
  net = new TestNetwork(["secrets-a", "secrets-b"]);
  await net.start();
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

async function dn(label: string, args: string[], env: Record<string, string> = {}) {
  const result = await net.cli(args, dir, env);
  cliRuns.push([label, result]);
  return result;
}

/** The real secrets, named, from the test configs and the network. */
function realSecrets(): Record<string, string> {
  const secrets: Record<string, string> = { "network token": net.token };
  for (const role of ["control", "gateway", "host", "cli"]) {
    const config = infraConfig(`test-${role}`);
    if (config.token) secrets[`${role} config token`] = config.token;
    if (config.requestToken) secrets["request token"] = config.requestToken;
    if (config.registryPassword) secrets["registry password"] = config.registryPassword;
    if (config.amqpUrl) {
      secrets[`${role} AMQP password`] = decodeURIComponent(new URL(config.amqpUrl).password);
    }
    if (config.redisUrl) {
      secrets["Redis password"] = decodeURIComponent(new URL(config.redisUrl).password);
    }
  }
  for (const [name, value] of Object.entries(secrets)) {
    assert(value.length >= 16, `${name} is a real secret (${value.length} chars)`);
  }
  return secrets;
}

/**
 * What a leak of `secret` may look like: itself, URL-encoded, and its base64
 * and base64url forms at any byte alignment (inside a longer encoded value,
 * such as X-Registry-Auth or a Basic authorization header).
 */
function leakForms(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret)]);
  for (let pad = 0; pad < 3; pad++) {
    const encoded = btoa("\0".repeat(pad) + secret);
    const inner = encoded.slice(pad === 0 ? 0 : 4, -4);
    forms.add(inner);
    forms.add(inner.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return [...forms].filter((f) => f.length >= 12);
}

/** Names of the secrets found in `text`. */
function leaks(text: string, secrets: Record<string, string>): string[] {
  return Object.entries(secrets)
    .filter(([, value]) => leakForms(value).some((form) => text.includes(form)))
    .map(([name]) => name);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

reliabilityTest("secrets: the CLI's error paths name the problem, not the secret", {
  fault: "dn list with a wrong token; dn build, then dn push with a wrong registry password",
  expected: "non-zero exit with a one-line error; neither wrong nor real secrets printed",
}, async (note) => {
  const badToken = await dn("list (wrong token)", ["list"], { DN_TOKEN: WRONG.token });
  assert(badToken.code !== 0, "a wrong token fails");
  assert(badToken.stderr.trim().length > 0, "with a message");
  // Build first, so push gets as far as the registry login.
  const built = await dn("build", ["build"]);
  assertEquals(built.code, 0, built.stderr);
  const badRegistry = await dn("push (wrong registry password)", ["push"], {
    DN_REGISTRY_PASSWORD: WRONG.registryPassword,
  });
  assert(badRegistry.code !== 0, "a wrong registry password fails");
  const all = { ...realSecrets(), ...WRONG };
  for (const [label, result] of [["list", badToken], ["push", badRegistry]] as const) {
    const found = leaks(result.stdout + result.stderr, all);
    assertEquals(found, [], `dn ${label} printed ${found.join(", ")}`);
  }
  note(
    `wrong token: "${badToken.stderr.trim().split("\n").at(-1)}"; ` +
      `wrong registry password: "${badRegistry.stderr.trim().split("\n").at(-1)}"`,
  );
});

reliabilityTest("secrets: a service with wrong AMQP and Redis passwords logs neither", {
  fault: "a gateway started with amqpUrl and redisUrl holding wrong passwords",
  expected: "it logs that the logins failed; no password (wrong or real) in its log",
}, async (note) => {
  const gatewayConfig = infraConfig("test-gateway");
  const amqp = new URL(gatewayConfig.amqpUrl);
  amqp.password = WRONG.amqpPassword;
  const redis = new URL(gatewayConfig.redisUrl);
  redis.password = WRONG.redisPassword;
  const gateway = net.spawn("gateway", "gateway-wrong-passwords", [], {
    DN_AMQP_URL: amqp.toString(),
    DN_REDIS_URL: redis.toString(),
    DN_GATEWAY_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_METRICS_LISTEN: "127.0.0.1:0", // beside the network's own gateway
    DN_GATEWAY_HTTPS_LISTEN: "127.0.0.1:0",
  });
  await gateway.waitFor("amqp connect failed");
  // The gateway gives Redis 10 s at start-up, then logs why it goes on without.
  await gateway.waitFor("starting without redis", 20_000);
  await gateway.stop();
  const found = leaks(gateway.output, { ...realSecrets(), ...WRONG });
  assertEquals(found, [], `the gateway logged ${found.join(", ")}`);
  const record = (msg: string) =>
    JSON.parse(gateway.output.split("\n").find((l) => l.includes(`"${msg}"`))!).error;
  note(
    `logged "${record("amqp connect failed")}" and "${record("starting without redis")}"; ` +
      `no password in ${gateway.output.length} bytes`,
  );
});

reliabilityTest("secrets: no service log and no CLI output holds a secret", {
  fault:
    "dn create/start/certs set/list/status/stop/start, GET/POST (inline and Redis-borne bodies), HTTPS, " +
    "wrong-token API calls, all at debug level",
  expected:
    "no token, registry, AMQP or Redis password, nor certificate key (plain, URL- or base64-encoded) " +
    "in any service log or CLI output",
}, async (note) => {
  const created = await dn("create", ["create"]);
  assertEquals(created.code, 0, created.stderr);
  assertEquals((await dn("start", ["start"])).code, 0);
  await net.waitForApp(HOSTNAME, (res) => res.status === 200, 60_000);
  // An HTTPS certificate: its private key is a secret too.
  const ca = await makeCa(dir);
  const cert = await issueCert(dir, ca, HOSTNAME);
  certKeyLine = (await Deno.readTextFile(cert.key)).split("\n")[1];
  const set = await dn("certs set", [
    "certs",
    "set",
    HOSTNAME,
    "--cert",
    cert.cert,
    "--key",
    cert.key,
  ]);
  assertEquals(set.code, 0, set.stderr);
  await dn("certs list", ["certs", "list", "--json"]);
  const secure = await httpsGet(net.gatewayHttpsPort, HOSTNAME, await Deno.readTextFile(ca.cert))
    .catch(async () => {
      await new Promise((r) => setTimeout(r, 500)); // the gateway hears of it within ms
      return await httpsGet(net.gatewayHttpsPort, HOSTNAME, await Deno.readTextFile(ca.cert));
    });
  assertEquals(secure.status, 200);
  for (let i = 0; i < 10; i++) {
    const res = await net.gateway(HOSTNAME, `/secrets?i=${i}`);
    assertEquals(res.status, 200);
    await res.body?.cancel();
  }
  const big = new Uint8Array(600 * 1024); // above the inline limit: travels through Redis
  const post = await net.gateway(HOSTNAME, "/upload", { method: "POST", body: big });
  await post.body?.cancel();
  assertEquals(post.status, 200);
  for (
    const header of [`Bearer ${WRONG.token}`, WRONG.token, "Basic " + btoa(`x:${WRONG.token}`)]
  ) {
    const res = await net.controlFetch("/v1/apps", { headers: { authorization: header } });
    await res.body?.cancel();
    assertEquals(res.status, 401);
  }
  for (const command of ["list", "status", "stop"]) {
    assertEquals((await dn(command, [command])).code, 0, command);
  }

  assertEquals((await dn("start again", ["start"])).code, 0);
  await net.waitForApp(HOSTNAME, (res) => res.status === 200, 30_000);
  await dn("help", ["help"]);
  await dn("version", ["version"]);
  assertEquals((await dn("remove", ["remove"])).code, 0);
  await new Promise((r) => setTimeout(r, 500)); // let hosts log the removal

  const secrets = { ...realSecrets(), ...WRONG, "certificate key": certKeyLine };
  // The search finds a secret inside an X-Registry-Auth-like value, at any offset.
  for (const prefix of ["", "u", "us"]) {
    const auth = btoa(JSON.stringify({ username: prefix, password: WRONG.registryPassword }));
    assertEquals(leaks(`header ${auth}`, secrets), ["registryPassword"], "the search works");
  }
  const found: string[] = [];
  let bytes = 0;
  for (const service of net.services.values()) {
    bytes += service.output.length;
    for (const name of leaks(service.output, secrets)) found.push(`${service.label}: ${name}`);
  }
  for (const [label, result] of cliRuns) {
    bytes += result.stdout.length + result.stderr.length;
    for (const name of leaks(result.stdout + result.stderr, secrets)) {
      found.push(`dn ${label}: ${name}`);
    }
  }
  assertEquals(found, [], `secrets leaked: ${found.join("; ")}`);
  note(
    `${Object.keys(secrets).length} secrets searched in ${net.services.size} service logs and ` +
      `${cliRuns.length} CLI runs (${Math.round(bytes / 1024)} KiB): none found`,
  );
});
