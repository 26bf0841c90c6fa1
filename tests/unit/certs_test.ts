/**
 * Certificate checks of lib/certs.ts: what `PUT /v1/certs/:hostname`
 * accepts and refuses, and that errors never hold key material.
 */
import { assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import { CertError, certInfo, checkCertPair, parseCertRecord } from "../../lib/certs.ts";
import { issueCert, makeCa } from "../helpers/tls.ts";
import { renewalTime } from "../../control/acme.ts";
import { challengeAnswer } from "../../gateway/acme_challenge.ts";
import {
  CHALLENGE_PATH,
  type ChallengeStore,
  isChallengeToken,
} from "../../lib/acme_challenges.ts";

const dir = await Deno.makeTempDir({ prefix: "dn-certs-unit-" });
const ca = await makeCa(dir);
const good = await issueCert(dir, ca, "app.dn.test");
const other = await issueCert(dir, ca, "other.dn.test");
const cert = await Deno.readTextFile(good.cert);
const key = await Deno.readTextFile(good.key);
const chain = cert + await Deno.readTextFile(ca.cert);

function refused(fn: () => unknown, pattern: RegExp): void {
  const error = assertThrows(fn, CertError);
  assertMatch(error.message, pattern);
  assertEquals(error.message.includes(key.split("\n")[1]), false, "no key material");
}

Deno.test("certs: a matching chain and key for the hostname is accepted", () => {
  const info = checkCertPair("app.dn.test", chain, key);
  assertEquals(info.hostname, "app.dn.test");
  assertEquals(info.subject, "CN=app.dn.test");
  assertMatch(info.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const record = { ...info, source: "file" as const, updatedAt: "2026-01-01T00:00:00Z", cert, key };
  assertEquals(parseCertRecord(JSON.stringify(record)).fingerprint, info.fingerprint);
  assertEquals("key" in certInfo(record), false);
});

Deno.test("certs: wrong name, wrong key, bad PEM and expiry are refused", async () => {
  const otherKey = await Deno.readTextFile(other.key);
  refused(() => checkCertPair("other.dn.test", cert, key), /not valid for other.dn.test/);
  refused(() => checkCertPair("app.dn.test", cert, otherKey), /does not match/);
  refused(() => checkCertPair("app.dn.test", "hello", key), /not a PEM certificate chain/);
  refused(() => checkCertPair("app.dn.test", cert + "\njunk", key), /not a PEM certificate/);
  refused(
    () => checkCertPair("app.dn.test", cert.replace(/[A-Za-z]{8}\n/, "AAAAAAAA\n"), key),
    /does not parse|does not match/,
  );
  refused(() => checkCertPair("app.dn.test", cert, cert), /not one unencrypted PEM private key/);
  refused(
    () => checkCertPair("app.dn.test", cert, key.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")),
    /private key/,
  );
  refused(() => checkCertPair("App.dn.test", cert, key), /invalid hostname/);
  refused(() => checkCertPair("app.dn.test", cert, key, new Date("2099-01-01")), /expired/);
  refused(
    () => checkCertPair("app.dn.test", cert, key, new Date("2000-01-01")),
    /not valid before/,
  );
  refused(() => checkCertPair("app.dn.test", cert + " ".repeat(70_000), key), /under 64 KiB/);
  refused(() => parseCertRecord("{}"), /does not validate/);
  refused(() => parseCertRecord("nope"), /not JSON/);
});

Deno.test({
  name: "certs: cleanup",
  fn: () => Deno.remove(dir, { recursive: true }),
});

Deno.test("acme: renewal falls due once a third of the lifetime is left", () => {
  const due = renewalTime({
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2026-04-01T00:00:00.000Z", // 90 days
  });
  assertEquals(new Date(due).toISOString(), "2026-03-02T00:00:00.000Z");
});

Deno.test("acme: the gateway answers a known token, 404 otherwise, and leaves other paths", async () => {
  const store = {
    get: (token: string) => Promise.resolve(token === "abc_-1" ? "abc_-1.thumb" : null),
  };
  const url = (path: string) => new URL(`http://app.dn.test${path}`);
  const known = await challengeAnswer(
    store as ChallengeStore,
    "GET",
    url(`${CHALLENGE_PATH}abc_-1`),
  );
  assertEquals([known?.status, await known?.text()], [200, "abc_-1.thumb"]);
  const unknown = await challengeAnswer(store as ChallengeStore, "GET", url(`${CHALLENGE_PATH}x`));
  assertEquals(unknown?.status, 404);
  await unknown?.body?.cancel();
  const post = await challengeAnswer(
    store as ChallengeStore,
    "POST",
    url(`${CHALLENGE_PATH}abc_-1`),
  );
  assertEquals(post?.status, 404);
  await post?.body?.cancel();
  assertEquals(await challengeAnswer(store as ChallengeStore, "GET", url("/")), null);
  assertEquals(isChallengeToken("../etc"), false);
  assertEquals(isChallengeToken("a".repeat(129)), false);
});

Deno.test("certs: a stored certificate that has expired since is still read (and shown)", () => {
  const info = checkCertPair("app.dn.test", cert, key);
  const record = { ...info, source: "file" as const, updatedAt: "2026-01-01T00:00:00Z", cert, key };
  const expiredSince = new Date(Date.parse(info.notAfter) + 1000);
  refused(() => checkCertPair("app.dn.test", cert, key, expiredSince), /expired/);
  assertEquals(parseCertRecord(JSON.stringify(record)).notAfter, info.notAfter);
});
