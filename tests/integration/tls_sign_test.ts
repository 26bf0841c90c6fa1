/**
 * scripts/tls.sh: every certificate the project's scripts issue from the local
 * CA starts a day before it is issued, so a machine whose clock is behind
 * (tests/e2e/clock_test.ts: 3 minutes) accepts a network set up minutes ago.
 * On a new machine that test's host refused RabbitMQ's certificate as "not
 * valid yet" before the scripts backdated it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";

const DAY_S = 86_400;

/** Runs bash with scripts/tls.sh sourced; fails with its output. */
async function bash(script: string, cwd: string): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", `source "${Deno.cwd()}/scripts/tls.sh"; ${script}`],
    cwd,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, text);
  return text;
}

/** A certificate's notBefore, in seconds since the epoch. */
async function notBefore(file: string, cwd: string): Promise<number> {
  const line = await bash(`openssl x509 -noout -startdate -in ${file}`, cwd);
  return Date.parse(line.trim().replace(/^notBefore=/, "")) / 1000;
}

Deno.test("tls_sign: a CA and a server certificate valid from a day ago, verified", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn-tls-sign-" });
  try {
    const now = Date.now() / 1000;
    await bash(
      [
        `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=dn/CN=ca" -keyout ca.key -out ca.csr 2>/dev/null`,
        `tls_sign ca.csr self ca.key 30 <(printf '%s\\n' basicConstraints=critical,CA:TRUE keyUsage=critical,keyCertSign) ca.pem`,
        `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=dn/CN=localhost" -keyout s.key -out s.csr 2>/dev/null`,
        `tls_sign s.csr ca.pem ca.key 30 <(printf '%s\\n' subjectAltName=DNS:localhost,IP:127.0.0.1 extendedKeyUsage=serverAuth) s.pem`,
        `openssl verify -CAfile ca.pem s.pem`,
      ].join(" && "),
      dir,
    );
    for (const file of ["ca.pem", "s.pem"]) {
      const ago = now - await notBefore(file, dir);
      assert(Math.abs(ago - DAY_S) < 120, `${file} starts ${ago} s before it was issued`);
    }
    const subject = await bash("openssl x509 -noout -subject -ext subjectAltName -in s.pem", dir);
    assert(subject.includes("O = dn, CN = localhost"), subject);
    assert(subject.includes("DNS:localhost, IP Address:127.0.0.1"), subject);
    // Two certificates never share a serial (the scripts issue many from one CA).
    await bash("tls_sign s.csr ca.pem ca.key 30 <(echo extendedKeyUsage=serverAuth) t.pem", dir);
    const serials = await bash(
      "for f in s.pem t.pem; do openssl x509 -noout -serial -in $f; done",
      dir,
    );
    assertEquals(new Set(serials.trim().split("\n")).size, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls_sign: a request the CA cannot sign fails and says why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn-tls-sign-" });
  try {
    await Deno.writeTextFile(`${dir}/bad.csr`, "not a request\n");
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `source "${Deno.cwd()}/scripts/tls.sh"; tls_sign bad.csr self none 1 /dev/null out.pem`,
      ],
      cwd: dir,
    }).output();
    assertEquals(out.success, false);
    assert(new TextDecoder().decode(out.stderr).length > 0, "no reason given");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
