/**
 * Control's API over HTTPS (lib/tls_server.ts): its port speaks only TLS,
 * the CLI trusts only the network's CA (`controlCaFile`), a key file others
 * can read stops control at start, and a certificate renewed on disk while
 * requests flow fails none of them.
 */
import { X509Certificate } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import {
  freePort,
  ROOT,
  type Service,
  startNetwork,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { type CertFiles, httpsGet, issueCert, makeImpostorCa } from "../helpers/tls.ts";

const ID = crypto.randomUUID().slice(0, 6);
/** The names scripts/infra's server certificate has on one machine. */
const SAN = "DNS:localhost,IP:127.0.0.1";
let net: TestNetwork;
/** Files control may read: under the config directory. */
let dir: string;
let localCa: CertFiles;
let first: CertFiles;

Deno.test.beforeAll(async () => {
  net = await startNetwork([]);
  dir = `${net.stateDir}/config/test-controltls-${ID}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  localCa = { cert: net.caFile, key: `${net.stateDir}/tls/ca.key` };
  first = await issueCert(dir, localCa, "localhost", "first", 30, SAN);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

/** Starts another control of the network on its own ports, serving `cert`. */
function control(
  key: string,
  cert: CertFiles,
): { service: Service; port: number; metrics: number } {
  const port = freePort();
  const metrics = freePort();
  const service = net.spawn("control", key, [], {
    DN_CONTROL_LISTEN: `127.0.0.1:${port}`,
    DN_CONTROL_METRICS_LISTEN: `127.0.0.1:${metrics}`,
    DN_TLS_CERT_FILE: cert.cert,
    DN_TLS_KEY_FILE: cert.key,
  });
  return { service, port, metrics };
}

/** What the CLI says to `dn list` with `env`: its exit code and its stderr's lines. */
async function cliList(env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
  const out = await net.cli(["list"], ROOT, env);
  return { code: out.code, lines: out.stderr.trim().split("\n") };
}

async function expiryDays(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith("dn_control_tls_certificate_expiry_days ")
  );
  assert(line !== undefined, "no dn_control_tls_certificate_expiry_days in /metrics");
  return Number(line.split(" ")[1]);
}

reliabilityTest("control TLS: plain HTTP to control's port gets no answer", {
  fault: "a plain HTTP/1.1 request on control's API port; the CLI with an http:// controlUrl",
  expected: "no HTTP answer (the TLS server closes the connection); the CLI exits 1, one line",
}, async (note) => {
  assert(net.controlTls, "test-control.json names no tlsCertFile: scripts/infra up");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: net.controlPort });
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: control\r\n\r\n"));
  const buffer = new Uint8Array(4096);
  let got = 0;
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    for (;;) {
      const n = await conn.read(buffer.subarray(got));
      if (n === null) break;
      got += n;
    }
  } catch {
    // reset or closed by the timer
  } finally {
    clearTimeout(timer);
  }
  try {
    conn.close();
  } catch {
    // closed
  }
  const answer = new TextDecoder().decode(buffer.subarray(0, got));
  assert(!answer.startsWith("HTTP/"), `control answered plain HTTP: ${answer.slice(0, 80)}`);
  const plain = await cliList({ DN_CONTROL_URL: `http://127.0.0.1:${net.controlPort}` });
  assertEquals(plain.code, 1);
  assertEquals(plain.lines.length, 1, plain.lines.join("\n"));
  assertMatch(plain.lines[0], /does not answer plain HTTP: use https:\/\/ in controlUrl/);
  note(`plain request: ${got} bytes back, none HTTP; CLI over http://: ${plain.lines[0]}`);
});

reliabilityTest("control TLS: the CLI refuses an impostor certificate", {
  fault: "a control serving a certificate for 127.0.0.1 from a CA with the local CA's subject " +
    "but another key; the real control with controlCaFile naming that impostor CA",
  expected: "dn exits 1 with one line saying the certificate does not verify; no request sent",
}, async (note) => {
  const impostorCa = await makeImpostorCa(dir, localCa.cert);
  const impostorCert = await issueCert(dir, impostorCa, "localhost", "impostor", 30, SAN);
  const impostor = control("control-impostor", impostorCert);
  try {
    await impostor.service.waitFor("control listening");
    const refused = await cliList({ DN_CONTROL_URL: `https://127.0.0.1:${impostor.port}` });
    assertEquals(refused.code, 1);
    assertEquals(refused.lines.length, 1, refused.lines.join("\n"));
    assertMatch(refused.lines[0], /presented a certificate that does not verify \(\w+\)/);
    // The handshake failed before any request: the impostor saw no token, no request.
    assert(!impostor.service.output.includes("/v1/apps"), impostor.service.output);
    const wrongCa = await cliList({ DN_CONTROL_CA_FILE: impostorCa.cert });
    assertEquals(wrongCa.code, 1);
    assertEquals(wrongCa.lines.length, 1, wrongCa.lines.join("\n"));
    assertMatch(wrongCa.lines[0], /does not verify \(\w+\): check controlCaFile/);
    const trusted = await cliList({});
    assertEquals(trusted.code, 0, trusted.lines.join("\n"));
    note(refused.lines[0]);
  } finally {
    await impostor.service.stop();
  }
});

reliabilityTest("service TLS: a private key file readable by others is refused at start", {
  fault: "control, and a host (its request listener), started with tlsKeyFile mode 644",
  expected: "each exits 1 with one line naming the file and chmod 600, before connecting anywhere",
}, async (note) => {
  const loose = `${dir}/loose.key`;
  await Deno.copyFile(first.key, loose);
  await Deno.chmod(loose, 0o644);
  const env = { DN_TLS_CERT_FILE: first.cert, DN_TLS_KEY_FILE: loose };
  const host = `loose-${ID}`;
  const seen: string[] = [];
  for (
    const [service, who] of [
      [control("control-loose-key", { cert: first.cert, key: loose }).service, "control"],
      [net.spawn("host", host, ["--name", host], env), `host ${host}`],
    ] as const
  ) {
    const status = await service.child.status;
    assertEquals(status.code, 1, `${who}: ${service.output}`);
    await service.waitFor("chmod 600", 5000); // its stderr may still be on the way
    const lines = service.output.trim().split("\n");
    assertEquals(lines.length, 1, service.output);
    assertEquals(
      lines[0],
      `${who}: tlsKeyFile: ${loose} must not be readable by group or others (chmod 600)`,
    );
    seen.push(lines[0]);
  }
  note(seen.join("; "));
});

reliabilityTest("control TLS: a certificate renewed on disk under load fails no request", {
  fault: "tlsCertFile and tlsKeyFile replaced (30-day certificate → 60-day) while 6 clients " +
    "open a new HTTPS connection per request, 2 reuse theirs and the CLI runs dn list",
  expected: "zero failed requests; every connection opened after the reload gets the new " +
    "certificate; /metrics expiry days follow",
}, async (note) => {
  const cert = `${dir}/renewing.pem`;
  const key = `${dir}/renewing.key`;
  await Deno.copyFile(first.cert, cert);
  await Deno.copyFile(first.key, key);
  await Deno.chmod(key, 0o600);
  const renewing = control("control-renewing", { cert, key });
  try {
    await renewing.service.waitFor("control listening");
    const daysBefore = await expiryDays(renewing.metrics);
    assert(daysBefore > 29 && daysBefore <= 30, `expiry days before: ${daysBefore}`);
    const caPem = await Deno.readTextFile(localCa.cert);
    const renewed = await issueCert(dir, localCa, "localhost", "renewed", 60, SAN);
    const newFingerprint = new X509Certificate(await Deno.readTextFile(renewed.cert))
      .fingerprint256;
    let stop = false;
    let reloadedAt = Infinity;
    const failures: string[] = [];
    const counts = { fresh: 0, kept: 0, cli: 0, afterReload: 0, oldAfterReload: 0 };
    const fresh = async () => {
      while (!stop) {
        const started = performance.now();
        try {
          const res = await httpsGet(renewing.port, "localhost", caPem, "/healthz");
          if (res.status !== 200) failures.push(`new connection: ${res.status}`);
          counts.fresh++;
          if (started > reloadedAt) {
            counts.afterReload++;
            if (res.fingerprint !== newFingerprint) counts.oldAfterReload++;
          }
        } catch (e) {
          failures.push(`new connection: ${(e as Error).message}`);
        }
      }
    };
    const kept = async () => {
      const client = Deno.createHttpClient({ caCerts: [caPem] });
      while (!stop) {
        try {
          const res = await fetch(`https://127.0.0.1:${renewing.port}/v1/apps`, {
            client,
            headers: { authorization: `Bearer ${net.token}` },
          });
          await res.body?.cancel();
          if (res.status !== 200) failures.push(`kept connection: ${res.status}`);
          counts.kept++;
        } catch (e) {
          failures.push(`kept connection: ${(e as Error).message}`);
        }
      }
      client.close();
    };
    const cli = async () => {
      while (!stop) {
        const out = await net.cli(["list"], ROOT, {
          DN_CONTROL_URL: `https://127.0.0.1:${renewing.port}`,
        });
        if (out.code !== 0) failures.push(`dn list: ${out.stderr.trim()}`);
        counts.cli++;
      }
    };
    const loops = [
      ...Array.from({ length: 6 }, fresh),
      ...Array.from({ length: 2 }, kept),
      cli(),
    ];
    await new Promise((r) => setTimeout(r, 1500));
    // As a renewal writes them: each file replaced whole (rename), certificate first.
    await Deno.copyFile(renewed.cert, `${cert}.new`);
    await Deno.rename(`${cert}.new`, cert);
    await Deno.copyFile(renewed.key, `${key}.new`);
    await Deno.chmod(`${key}.new`, 0o600);
    await Deno.rename(`${key}.new`, key);
    await renewing.service.waitFor("tls certificate reloaded", 10_000);
    reloadedAt = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await Promise.all(loops);
    assertEquals(failures.length, 0, failures.slice(0, 5).join("\n"));
    assert(counts.afterReload > 0, "no new connection after the reload");
    assertEquals(counts.oldAfterReload, 0, "a connection after the reload got the old certificate");
    const daysAfter = await expiryDays(renewing.metrics);
    assert(daysAfter > 59 && daysAfter <= 60, `expiry days after: ${daysAfter}`);
    note(
      `0 failed of ${counts.fresh} new-connection, ${counts.kept} kept-connection requests ` +
        `and ${counts.cli} dn list runs; ${counts.afterReload} opened after the reload, all ` +
        `with the new certificate; expiry ${daysBefore.toFixed(1)} → ${daysAfter.toFixed(1)} days`,
    );
  } finally {
    await renewing.service.stop();
  }
});
