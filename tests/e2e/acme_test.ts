/**
 * ACME end to end against Debian's pebble (Let's Encrypt's test server, which
 * scripts/infra installs): control orders a certificate for an app's
 * hostname, pebble validates the HTTP-01 challenge through the real
 * gateway's plain HTTP port (its DNS is pebble-challtestsrv, answering
 * 127.0.0.1 for every name), the gateway serves the certificate over HTTPS,
 * and control renews it by itself (pebble issues 30-second certificates
 * here, so renewal falls due 20 s after issue) while requests flow.
 * Pebble's own TLS certificate comes from a CA made for the test, which
 * control is told to trust (`acmeCaFile`); nothing turns verification off.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { freePort, ROOT, STATE_DIR, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { httpsGet, issueCert, makeCa } from "../helpers/tls.ts";

const ID = crypto.randomUUID().slice(0, 6);
const APP = { name: `acme-${ID}`, hostname: `acme-${ID}.dn.test` };
const acmePort = freePort();
const managementPort = freePort();
const dnsPort = freePort();
/** Control may read only its config directory: the test CA of pebble's listener goes there. */
const caCopy = `${STATE_DIR}/config/test-acme-ca-${ID}.pem`;
let net: TestNetwork;
let dir: string;
let pebbleRoot: string;
const children: Deno.ChildProcess[] = [];

function spawn(command: string, args: string[], env: Record<string, string>, log: string) {
  const file = Deno.openSync(log, { write: true, create: true, append: true });
  const child = new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .spawn();
  child.stdout.pipeTo(file.writable, { preventClose: true }).catch(() => {});
  child.stderr.pipeTo(new WritableStream({ write: (c) => void file.writeSync(c) })).catch(
    () => {},
  );
  children.push(child);
}

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-acme-" });
  const ca = await makeCa(dir, "dn test CA for pebble");
  const listener = await issueCert(
    dir,
    ca,
    "localhost",
    "pebble",
    30,
    "DNS:localhost,IP:127.0.0.1",
  );
  await Deno.copyFile(ca.cert, caCopy);
  net = new TestNetwork([`acme-${ID}`], {
    env: {
      DN_ACME_DIRECTORY_URL: `https://127.0.0.1:${acmePort}/dir`,
      DN_ACME_CA_FILE: caCopy,
      DN_ACME_EMAIL: "ops@dn.test",
    },
  });
  await Deno.writeTextFile(
    `${dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: listener.cert,
        privateKey: listener.key,
        httpPort: net.gatewayPort, // HTTP-01 goes to the gateway's plain HTTP port
        tlsPort: freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        certificateValidityPeriod: 30,
      },
    }),
  );
  spawn(
    "pebble-challtestsrv",
    [
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${freePort()}`,
    ],
    {},
    `${dir}/challtestsrv.log`,
  );
  spawn("pebble", ["-config", `${dir}/pebble.json`, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    PEBBLE_VA_NOSLEEP: "1",
    PEBBLE_AUTHZREUSE: "0", // every order is validated through the gateway
  }, `${dir}/pebble.log`);
  await net.start();
  await net.deploy(`${ROOT}/apps/hello-world`, APP.name, APP.hostname);
  const caPem = await Deno.readTextFile(ca.cert);
  pebbleRoot = await eventually(async () => {
    const res = await fetch(`https://127.0.0.1:${managementPort}/roots/0`, {
      client: Deno.createHttpClient({ caCerts: [caPem] }),
    });
    return await res.text();
  }, (text) => text.includes("BEGIN CERTIFICATE"));
});
Deno.test.afterAll(async () => {
  await net?.stop();
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch {
      // gone
    }
    await child.status;
  }
  await Deno.remove(caCopy).catch(() => {});
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = "never tried";
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (ok(value)) return value;
      last = value;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not in time: ${JSON.stringify(last)?.slice(0, 300)}`);
}

let first = "";

reliabilityTest("acme: a certificate from pebble, HTTP-01 answered by the gateway", {
  fault:
    "dn certs issue for an app's hostname against pebble (challenge validated over the gateway's HTTP port)",
  expected: "the gateway serves a pebble-issued certificate that verifies against pebble's root",
}, async (note) => {
  const started = Date.now();
  const issued = await net.cli(["certs", "issue", APP.hostname], dir);
  assertEquals(issued.code, 0, issued.stderr);
  const ms = Date.now() - started;
  assertMatch(issued.stdout, /certificate issued .*Pebble Intermediate/);
  const served = await eventually(
    () => httpsGet(net.gatewayHttpsPort, APP.hostname, pebbleRoot),
    (r) => r.status === 200,
  );
  assertEquals(served.subject, APP.hostname);
  first = served.fingerprint;
  const listed = await net.cli(["certs", "list"], dir);
  assertMatch(listed.stdout, new RegExp(`^${APP.hostname.replaceAll(".", "\\.")} .* acme `, "m"));
  const unknown = await net.gateway(APP.hostname, "/.well-known/acme-challenge/nope");
  await unknown.body?.cancel();
  assertEquals(unknown.status, 404, "an unknown token is not answered");
  note(`issued in ${ms} ms (account, order, HTTP-01 through the gateway, finalize)`);
});

reliabilityTest("acme: control renews the certificate by itself; no request fails", {
  fault: "pebble certificates valid 30 s; HTTPS requests from 4 clients while control renews",
  expected: "a new certificate is served before the old one expires; zero failed requests",
}, async (note) => {
  assert(first !== "", "the first test obtained a certificate");
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  let renewed = "";
  const worker = async () => {
    while (!stop) {
      try {
        const res = await httpsGet(net.gatewayHttpsPort, APP.hostname, pebbleRoot);
        if (res.status === 200) ok++;
        else failures.push(`status ${res.status}`);
        if (res.fingerprint !== first) renewed = res.fingerprint;
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  const started = Date.now();
  while (renewed === "" && Date.now() - started < 40_000) {
    await new Promise((r) => setTimeout(r, 200));
  }
  stop = true;
  await Promise.all(workers);
  assert(renewed !== "", "renewed within 40 s");
  assertEquals(failures, [], "no request failed");
  note(
    `renewed ${
      Math.round((Date.now() - started) / 1000)
    } s into the test; ${ok} requests, 0 failed`,
  );
});
