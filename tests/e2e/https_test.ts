/**
 * HTTPS at the gateway, end to end: two apps with their own certificates
 * (set with `dn certs set`), served by SNI through the real gateway's HTTPS
 * listener; an unknown name, a world-readable key file, a Host that is not
 * the name the connection was made for, and a certificate renewed while
 * requests flow.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ROOT, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { type CertFiles, httpsGet, issueCert, makeCa } from "../helpers/tls.ts";
import { readBytes, readHead, readUntilClosed, writeAll } from "../helpers/raw_http.ts";

const ID = crypto.randomUUID().slice(0, 6);
const A = { name: `tls-a-${ID}`, hostname: `tls-a-${ID}.dn.test` };
const B = { name: `tls-b-${ID}`, hostname: `tls-b-${ID}.dn.test` };
/** Apps with `APP_HTTPS redirect` + `APP_HSTS 1y`, and `APP_HTTPS only`. */
const R = { name: `tls-r-${ID}`, hostname: `tls-r-${ID}.dn.test` };
const O = { name: `tls-o-${ID}`, hostname: `tls-o-${ID}.dn.test` };
/** tests/apps/raw-http: an app that switches to any protocol asked for and echoes bytes. */
const U = { name: `tls-u-${ID}`, hostname: `tls-u-${ID}.dn.test` };
let httpsPort: number;
let net: TestNetwork;
let dir: string;
let caPem: string;
let ca: CertFiles;
const certs: Record<string, CertFiles> = {};

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-https-" });
  ca = await makeCa(dir);
  caPem = await Deno.readTextFile(ca.cert);
  for (const app of [A, B, R, O, U]) certs[app.hostname] = await issueCert(dir, ca, app.hostname);
  net = new TestNetwork([`tls-${ID}`]);
  httpsPort = net.gatewayHttpsPort;
  await net.start();
  for (const app of [A, B]) await net.deploy(`${ROOT}/apps/hello-world`, app.name, app.hostname);
  await net.deploy(`${ROOT}/tests/apps/raw-http`, U.name, U.hostname);
  // Plain HTTP never answers 200 for these two, so no net.deploy (it waits for one).
  const policies = [
    [R, { https: "redirect", hstsSeconds: 365 * 86_400 }],
    [O, { https: "only" }],
  ] as const;
  for (const [app, settings] of policies) {
    const digest = await net.buildAndPush(`${ROOT}/apps/hello-world`, app.name, 1);
    const created = await net.api("POST", "/v1/apps", { ...app, port: 8000, digest, ...settings });
    assertEquals(created.status, 201, JSON.stringify(created.body));
    assertEquals((await net.api("POST", `/v1/apps/${app.name}/start`)).status, 200);
    await net.waitForRunning(app.name, 1);
  }
  for (const app of [A, B, R, O, U]) {
    const { cert, key } = certs[app.hostname];
    const set = await dn(["certs", "set", app.hostname, "--cert", cert, "--key", key]);
    assertEquals(set.code, 0, set.stderr);
  }
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

function dn(args: string[]) {
  return net.cli(args, dir);
}

/** GETs through the gateway's HTTPS listener, retrying while the gateway loads a change. */
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  let last: T | Error = new Error("never tried");
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (e) {
      last = e as Error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not in time: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

reliabilityTest("https: the gateway serves each hostname its own certificate (SNI)", {
  fault: "two apps with their own certificates; HTTPS requests by SNI to each",
  expected: "each name gets its certificate and its app; x-forwarded-proto https",
}, async (note) => {
  for (const app of [A, B]) {
    const res = await eventually(
      () => httpsGet(httpsPort, app.hostname, caPem, "/echo"),
      (r) => r.status === 200,
    );
    assertEquals(res.subject, app.hostname);
    const echoed = JSON.parse(res.body);
    assertEquals(echoed.headers["x-forwarded-proto"], "https");
    assertEquals(echoed.headers["x-forwarded-for"], "127.0.0.1");
    assertEquals(echoed.headers["x-forwarded-host"], app.hostname);
  }
  const listed = await dn(["certs", "list"]);
  assertEquals(listed.code, 0, listed.stderr);
  assert(listed.stdout.includes(A.hostname) && listed.stdout.includes(B.hostname), listed.stdout);
  assert(!listed.stdout.includes("PRIVATE KEY"), "list never shows a key");
  const h2 = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_version} %{http_code}",
      "--http2",
      "--cacert",
      ca.cert,
      "--resolve",
      `${A.hostname}:${httpsPort}:127.0.0.1`,
      `https://${A.hostname}:${httpsPort}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(new TextDecoder().decode(h2.stdout), "2 200", "HTTP/2 (no Host header) works");
  const misdirected = await httpsGet(httpsPort, A.hostname, caPem, "/", B.hostname);
  assertEquals(misdirected.status, 421, "a Host other than the SNI name is refused");
  const metrics = await (await fetch(`${await net.healthUrl("gateway")}/metrics`)).text();
  const days = new RegExp(
    `dn_gateway_tls_certificate_expiry_days\\{hostname="${A.hostname}"\\} ([0-9.]+)`,
  ).exec(metrics);
  assert(days && Number(days[1]) > 29 && Number(days[1]) <= 30, `expiry days in ${metrics}`);
  note(`subjects match; Host ≠ SNI → 421; expiry ${days[1]} days in /metrics`);
});

reliabilityTest("https: an unknown name fails the TLS handshake", {
  fault: "HTTPS with SNI of a name without a certificate, and without SNI",
  expected: "fatal unrecognized_name alert, no certificate of another app",
}, async (note) => {
  const error = await httpsGet(httpsPort, `nobody-${ID}.dn.test`, caPem).then(
    (r) => `answered ${r.status} with ${r.subject}`,
    (e: Error) => e.message,
  );
  assertMatch(error, /unrecognized.?name|UnrecognisedName|UnrecognizedName/i);
  const curl = await new Deno.Command("curl", {
    args: ["-sS", "--cacert", ca.cert, `https://127.0.0.1:${httpsPort}/`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const curlError = new TextDecoder().decode(curl.stderr);
  assert(!curl.success, "no SNI: refused");
  assertMatch(curlError, /unrecognized name/i);
  note(`node: ${error.slice(0, 60)}; curl without SNI: ${curlError.trim().slice(0, 80)}`);
});

reliabilityTest("https: a private key file readable by others is refused", {
  fault: "dn certs set with a key file of mode 644",
  expected: "exit 1 naming chmod 600; the certificate is not stored; the key never printed",
}, async (note) => {
  const loose = await issueCert(dir, ca, A.hostname, "loose");
  await Deno.chmod(loose.key, 0o644);
  const result = await dn(["certs", "set", A.hostname, "--cert", loose.cert, "--key", loose.key]);
  assertEquals(result.code, 1);
  assertMatch(result.stderr, /must not be readable by group or others \(chmod 600/);
  const served = await httpsGet(httpsPort, A.hostname, caPem);
  const fingerprint = await fingerprintOf(certs[A.hostname].cert);
  assertEquals(served.fingerprint, fingerprint, "still the first certificate");
  const wrong = await issueCert(dir, ca, B.hostname, "wrong-name");
  const mismatch = await dn(["certs", "set", A.hostname, "--cert", wrong.cert, "--key", wrong.key]);
  assertEquals(mismatch.code, 1);
  assertMatch(mismatch.stderr, /not valid for/);
  const key = await Deno.readTextFile(loose.key);
  for (const out of [result.stdout, result.stderr, mismatch.stdout, mismatch.stderr]) {
    assert(!out.includes(key.split("\n")[1]), "no key material printed");
  }
  note(`${result.stderr.trim()}; wrong name: ${mismatch.stderr.trim().slice(0, 80)}`);
});

reliabilityTest("https: a certificate renewed under load fails no request", {
  fault:
    "dn certs set with a new certificate while 8 clients send HTTPS requests (new connections)",
  expected: "zero failed requests; new connections get the new certificate at once",
}, async (note) => {
  const renewed = await issueCert(dir, ca, A.hostname, "renewed", 60);
  const newFingerprint = await fingerprintOf(renewed.cert);
  let stop = false;
  let ok = 0;
  let sawNew = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (!stop) {
      try {
        const res = await httpsGet(httpsPort, A.hostname, caPem);
        if (res.status === 200) ok++;
        else failures.push(`status ${res.status}`);
        if (res.fingerprint === newFingerprint) sawNew++;
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  await new Promise((r) => setTimeout(r, 1500));
  const okBefore = ok;
  const set = await dn(["certs", "set", A.hostname, "--cert", renewed.cert, "--key", renewed.key]);
  assertEquals(set.code, 0, set.stderr);
  const switched = Date.now();
  while (sawNew === 0 && Date.now() - switched < 5000) await new Promise((r) => setTimeout(r, 20));
  const switchMs = Date.now() - switched;
  await new Promise((r) => setTimeout(r, 1500));
  stop = true;
  await Promise.all(workers);
  assertEquals(failures, [], "no request failed");
  assert(sawNew > 0, "the renewed certificate is served");
  const after = await httpsGet(httpsPort, A.hostname, caPem);
  assertEquals(after.fingerprint, newFingerprint);
  note(
    `${ok} requests (${okBefore} before the renewal), 0 failed; new certificate within ${switchMs} ms`,
  );
});

reliabilityTest("https: redirect, HTTPS only and HSTS as App.config says", {
  fault:
    "plain HTTP and HTTPS requests to apps with APP_HTTPS redirect + APP_HSTS 1y, only, and off",
  expected: "301/308 to the https URL, 403 for only, HSTS on HTTPS answers only, off serves both",
}, async (note) => {
  const get = await net.gateway(R.hostname, "/echo?x=1");
  await get.body?.cancel();
  assertEquals(get.status, 301);
  const location = `https://${R.hostname}:${httpsPort}/echo?x=1`;
  assertEquals(get.headers.get("location"), location);
  assertEquals(get.headers.get("strict-transport-security"), null, "no HSTS over plain HTTP");
  const post = await net.gateway(R.hostname, "/echo", { method: "POST", body: "x" });
  await post.body?.cancel();
  assertEquals(post.status, 308, "other methods keep method and body");
  const secure = await eventually(
    () => httpsGet(httpsPort, R.hostname, caPem, "/echo?x=1"),
    (r) => r.status === 200,
  );
  assertEquals(secure.headers["strict-transport-security"], "max-age=31536000");
  const only = await net.gateway(O.hostname, "/");
  assertEquals(only.status, 403);
  assertMatch(await only.text(), /HTTPS only: https:\/\//);
  const onlySecure = await eventually(
    () => httpsGet(httpsPort, O.hostname, caPem),
    (r) => r.status === 200,
  );
  assertEquals(onlySecure.headers["strict-transport-security"], undefined);
  const plain = await net.gateway(A.hostname, "/");
  await plain.body?.cancel();
  assertEquals(plain.status, 200, "APP_HTTPS off (default) serves plain HTTP");
  const status = await dn(["status", "--app", R.name]);
  assertMatch(status.stdout, /HTTPS: redirect\nHSTS: 1y\n/);
  const plainStatus = await dn(["status", "--app", A.name]);
  assert(!/HTTPS:|HSTS:/.test(plainStatus.stdout), "no lines for the defaults");
  note(`GET → 301 ${location}, POST → 308, HSTS max-age=31536000 on HTTPS only; only → 403`);
});

async function fingerprintOf(path: string): Promise<string> {
  const { X509Certificate } = await import("node:crypto");
  return new X509Certificate(await Deno.readTextFile(path)).fingerprint256;
}

/** Opens TLS to the gateway's HTTPS port with SNI `name`, offering `alpn`; the protocol agreed. */
async function connectTls(name: string, alpn: string[]): Promise<[Deno.TlsConn, string | null]> {
  const options: Deno.ConnectTlsOptions & Record<symbol, string> = {
    hostname: "127.0.0.1",
    port: httpsPort,
    caCerts: [caPem],
    alpnProtocols: alpn,
  };
  options[Symbol.for("unstableServerName")] = name;
  const conn = await Deno.connectTls(options);
  const { alpnProtocol } = await conn.handshake();
  return [conn, alpnProtocol];
}

reliabilityTest("https: HTTP/1.1 over TLS is served as plain HTTP is", {
  fault: "TLS offering only http/1.1: two pipelined requests (a POST with a 5-byte body, a GET), " +
    "then a request with obsolete line folding; TLS offering h2 and http/1.1",
  expected: "http/1.1 agreed and the gateway's own HTTP/1.1 server answers (both pipelined " +
    "requests in order, the body reaching the app; 400 naming the line folding); h2 agreed " +
    "(HTTP/2 is served by Deno.serve)",
}, async (note) => {
  const [conn, agreed] = await connectTls(A.hostname, ["http/1.1"]);
  assertEquals(agreed, "http/1.1");
  const encoder = new TextEncoder();
  await conn.write(encoder.encode(
    `POST /echo HTTP/1.1\r\nhost: ${A.hostname}\r\ncontent-length: 5\r\n\r\nhello` +
      `GET /echo?second HTTP/1.1\r\nhost: ${A.hostname}\r\nconnection: close\r\n\r\n`,
  ));
  const text = (await readUntilClosed(conn, 10_000)).text;
  assertEquals([...text.matchAll(/HTTP\/1\.1 200 /g)].length, 2, text);
  assertMatch(text, /"method":"POST".*"bodyLength":5.*"method":"GET".*"query":"\?second"/s);
  const [folded] = await connectTls(A.hostname, ["http/1.1"]);
  await folded.write(encoder.encode(
    `GET / HTTP/1.1\r\nhost: ${A.hostname}\r\nx-a: a\r\n b\r\n\r\n`,
  ));
  const refused = (await readUntilClosed(folded, 10_000)).text;
  assertMatch(refused, /^HTTP\/1\.1 400 [^]*obsolete line folding/);
  const [h2, agreedH2] = await connectTls(A.hostname, ["h2", "http/1.1"]);
  h2.close();
  assertEquals(agreedH2, "h2");
  note(
    "http/1.1: 2 pipelined answers in order, POST body 5 bytes seen, line folding 400; " +
      "h2 offered: h2 agreed",
  );
});

reliabilityTest("https: an upgrade over TLS is a byte tunnel, as on plain HTTP", {
  fault: "TLS offering http/1.1 to an app that switches to any protocol and echoes bytes: " +
    "`Upgrade: foo`, then 256 KiB through the tunnel; a GET with a 5-byte body",
  expected: "the app's 101 naming foo over TLS, every byte echoed in order; the GET's body " +
    "reaches the app (the own HTTP/1.1 server serves TLS as plain HTTP)",
}, async (note) => {
  const encoder = new TextEncoder();
  const [withBody] = await connectTls(U.hostname, ["http/1.1"]);
  await withBody.write(encoder.encode(
    `GET /body HTTP/1.1\r\nhost: ${U.hostname}\r\ncontent-length: 5\r\n` +
      "connection: close\r\n\r\nhello",
  ));
  const answered = (await readUntilClosed(withBody, 10_000)).text;
  assertMatch(answered, /\{"method":"GET","length":5,"body":"hello"\}/);
  const [conn] = await connectTls(U.hostname, ["http/1.1"]);
  await conn.write(encoder.encode(
    `GET /upgrade HTTP/1.1\r\nhost: ${U.hostname}\r\nupgrade: foo\r\nconnection: upgrade\r\n\r\n`,
  ));
  const payload = Uint8Array.from({ length: 256 * 1024 }, (_, i) => (i * 31) % 251);
  const writing = writeAll(conn, payload, 16 * 1024);
  const { head, rest } = await readHead(conn);
  const echoed = await readBytes(conn, payload.length, rest);
  await writing;
  conn.close();
  assertMatch(head, /^HTTP\/1\.1 101 [^]*upgrade: foo/i);
  assertEquals(echoed.length, payload.length, "every byte back");
  assert(echoed.every((b, i) => b === payload[i]), "bytes in order");
  note(`GET body reached the app over TLS; 101 foo, ${echoed.length} bytes echoed through TLS`);
});
