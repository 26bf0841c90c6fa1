/**
 * TLS helpers for tests: a throwaway CA and certificates made with openssl
 * (keys mode 600), and an HTTPS client that sets SNI and reports the
 * certificate it was served (`node:https`, since `fetch` cannot connect to
 * one address under another name).
 *
 * @module
 */

import https from "node:https";
import type { TLSSocket } from "node:tls";

/** A certificate and its key, as files. */
export interface CertFiles {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** `openssl req` arguments for a new unencrypted ECDSA P-256 key written to `keyFile`. */
function newKey(keyFile: string, subject: string): string[] {
  return "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes".split(" ")
    .concat(["-keyout", keyFile, "-subj", subject]);
}

/** Makes a CA (EC P-256) in `dir`: `ca.pem`, `ca.key`. */
export async function makeCa(dir: string, name = "dn test CA"): Promise<CertFiles> {
  await openssl([
    "req",
    "-x509",
    ...newKey("ca.key", `/CN=${name}`),
    "-out",
    "ca.pem",
    "-days",
    "30",
  ], dir);
  return { cert: `${dir}/ca.pem`, key: `${dir}/ca.key` };
}

/**
 * Issues a certificate for `hostname` from `ca`, valid `days` days, into
 * `dir/<file>.pem` and `.key` (mode 600), naming `san` (default the hostname).
 */
export async function issueCert(
  dir: string,
  ca: CertFiles,
  hostname: string,
  file = hostname,
  days = 30,
  san = `DNS:${hostname}`,
): Promise<CertFiles> {
  await Deno.writeTextFile(`${dir}/${file}.ext`, `subjectAltName=${san}\n`);
  await openssl(
    ["req", "-new", ...newKey(`${file}.key`, `/CN=${hostname}`), "-out", `${file}.csr`],
    dir,
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    `${file}.csr`,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    `${file}.pem`,
    "-days",
    String(days),
    "-extfile",
    `${file}.ext`,
  ], dir);
  await Deno.chmod(`${dir}/${file}.key`, 0o600);
  return { cert: `${dir}/${file}.pem`, key: `${dir}/${file}.key` };
}

/** What {@link httpsGet} got. */
export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** CN of the certificate served. */
  subject: string;
  /** SHA-256 fingerprint of the certificate served. */
  fingerprint: string;
}

/**
 * GETs `path` from 127.0.0.1:`port` with SNI `servername`, verifying the
 * server against `ca` (PEM text); `host` is the Host header (default the
 * servername). A new connection each time.
 */
export function httpsGet(
  port: number,
  servername: string,
  ca: string,
  path = "/",
  host = servername,
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1",
      port,
      path,
      servername,
      ca,
      headers: { host },
      agent: false,
      timeout: 10_000,
    }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => body += chunk);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          subject: String(cert?.subject?.CN ?? ""),
          fingerprint: cert?.fingerprint256 ?? "",
        }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Makes in `dir` a CA with the same subject as the one in `caFile` but a key
 * of its own (`impostor-ca.pem`, `impostor-ca.key`): a client must not trust
 * what it signs because the names match.
 */
export async function makeImpostorCa(dir: string, caFile: string): Promise<CertFiles> {
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", caFile],
  }).output();
  const subject = new TextDecoder().decode(out.stdout).trim().replace(/^subject=/, "");
  const slashed = "/" + subject.split(",").reverse().join("/");
  await openssl([
    "req",
    "-x509",
    ...newKey("impostor-ca.key", slashed),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-out",
    "impostor-ca.pem",
    "-days",
    "2",
  ], dir);
  return { cert: `${dir}/impostor-ca.pem`, key: `${dir}/impostor-ca.key` };
}
