/**
 * The registry over TLS: scripts/infra's registry (127.0.0.1:$DN_REGISTRY_TLS_PORT,
 * HTTPS only) serves a certificate from the local CA. A client verifies it
 * with that CA; dockerd pushes and pulls through it with auth; hosts pull
 * app images through it.
 *
 * dockerd treats every 127.0.0.0/8 registry as insecure (moby's built-in
 * default), so on loopback it skips certificate verification whatever
 * /etc/docker/certs.d holds; the verification is proven here with a client
 * that does verify (Deno's fetch with the CA).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { makeImpostor } from "../helpers/impostor.ts";
import { infraConfig, ROOT, STATE_DIR, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { DockerClient } from "../../lib/docker/mod.ts";

const CLI = infraConfig("test-cli");
const REGISTRY = CLI.registry;
const PORT = REGISTRY.slice(REGISTRY.lastIndexOf(":") + 1);
const CA = Deno.readTextFileSync(CLI.registryCaFile);
const USER = CLI.registryUser;
const PASSWORD = CLI.registryPassword;
const docker = new DockerClient();
const trusted = Deno.createHttpClient({ caCerts: [CA] });
const cleanup: (() => Promise<unknown>)[] = [];

Deno.test.afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  trusted.close();
  docker.close();
});

function basic(user: string, password: string): string {
  return "Basic " + btoa(`${user}:${password}`);
}

/** Status of GET `url` with `init`, or the error's message when the request fails. */
async function get(url: string, init: RequestInit & { client?: Deno.HttpClient } = {}) {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    return { status: res.status, headers: res.headers, body, error: "" };
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause;
    return { status: 0, headers: new Headers(), body: "", error: `${e} ${cause ?? ""}` };
  }
}

async function impostorCa(): Promise<string> {
  const impostor = await makeImpostor();
  cleanup.push(impostor.remove);
  return impostor.caPem;
}

reliabilityTest("registry TLS: HTTPS verified with the local CA, htpasswd auth", {
  fault: "GET /v2/ over HTTPS with the local CA, without credentials, with a wrong password, " +
    "with the system roots, with an impostor CA, and as plain HTTP",
  expected: "200 only with the CA and the right password; 401 otherwise; " +
    "other trust roots fail the handshake; plain HTTP refused",
}, async (note) => {
  const url = `https://${REGISTRY}/v2/`;
  const ok = await get(url, { client: trusted, headers: { authorization: basic(USER, PASSWORD) } });
  assertEquals(ok.status, 200, ok.error);
  const byName = await get(`https://localhost:${PORT}/v2/`, {
    client: trusted,
    headers: { authorization: basic(USER, PASSWORD) },
  });
  assertEquals(byName.status, 200, byName.error);
  const anonymous = await get(url, { client: trusted });
  assertEquals(anonymous.status, 401);
  assertMatch(anonymous.headers.get("www-authenticate") ?? "", /^Basic realm="dn-registry"/);
  const wrong = await get(url, { client: trusted, headers: { authorization: basic(USER, "x") } });
  assertEquals(wrong.status, 401);

  const systemRoots = await get(url, { headers: { authorization: basic(USER, PASSWORD) } });
  assertEquals(systemRoots.status, 0, "the system roots do not know the local CA");
  assertMatch(systemRoots.error, /certificate|UnknownIssuer/i);
  const impostorClient = Deno.createHttpClient({ caCerts: [await impostorCa()] });
  const impostor = await get(url, {
    client: impostorClient,
    headers: { authorization: basic(USER, PASSWORD) },
  });
  impostorClient.close();
  assertEquals(impostor.status, 0, "an impostor CA fails the handshake");
  assertMatch(impostor.error, /certificate|UnknownIssuer|BadSignature/i);
  const plain = await get(`http://${REGISTRY}/v2/`, {
    headers: { authorization: basic(USER, PASSWORD) },
  });
  // Go's TLS server answers a plain HTTP request with 400 and nothing else.
  assertEquals(plain.status, 400, `plain HTTP is refused: ${plain.error}`);
  assertMatch(plain.body, /HTTP request to an HTTPS server/);

  // dockerd is told to trust the CA for this registry.
  for (const host of [REGISTRY, `localhost:${PORT}`]) {
    assertEquals(await Deno.readTextFile(`/etc/docker/certs.d/${host}/ca.crt`), CA, host);
  }
  note(
    `200 with CA+auth; 401 anonymous and wrong password; system roots: ` +
      `"${systemRoots.error.split(": ").at(-1)?.trim()}"; plain HTTP: ${plain.status}`,
  );
});

reliabilityTest("registry TLS: dockerd pushes and pulls through HTTPS with auth", {
  fault: "push an image to 127.0.0.1:<tls port> with and without the right password, " +
    "remove it locally, pull it back by tag with and without the right password",
  expected: "the authenticated push and pull work and agree on the digest, which the registry " +
    "serves over HTTPS; the wrong password is refused both ways",
}, async (note) => {
  const repo = `${REGISTRY}/registry-tls-probe`;
  const tag = `t${crypto.randomUUID().slice(0, 8)}`;
  const auth = { username: USER, password: PASSWORD, serverAddress: REGISTRY };
  const badAuth = { ...auth, password: `wrong-${crypto.randomUUID()}` };
  const base = await docker.inspectImage("dn/deno:latest");
  assert(base, "the base image exists (scripts/base-image)");
  await docker.tagImage(base.id, repo, tag);
  await docker.tagImage(base.id, repo, `${tag}-bad`);
  cleanup.push(() => docker.removeImage(`${repo}:${tag}`, { force: true }));
  cleanup.push(() => docker.removeImage(`${repo}:${tag}-bad`, { force: true }));

  let refusedPush = "";
  try {
    await docker.pushImage(repo, `${tag}-bad`, badAuth, () => {});
  } catch (e) {
    refusedPush = (e as Error).message;
  }
  assertMatch(refusedPush, /unauthorized|authentication required|no basic auth/i);

  const { digest } = await docker.pushImage(repo, tag, auth, () => {});
  assertMatch(digest, /^sha256:[0-9a-f]{64}$/);
  cleanup.push(() =>
    fetch(`https://${REGISTRY}/v2/registry-tls-probe/manifests/${digest}`, {
      method: "DELETE",
      client: trusted,
      headers: { authorization: basic(USER, PASSWORD) },
    }).then((r) => r.body?.cancel())
  );

  const served = await fetch(`https://${REGISTRY}/v2/registry-tls-probe/manifests/${tag}`, {
    method: "HEAD",
    client: trusted,
    headers: {
      authorization: basic(USER, PASSWORD),
      accept: "application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  assertEquals(served.status, 200);
  assertEquals(served.headers.get("docker-content-digest"), digest);

  // Untag everything that names the repository (a push also records repo@digest).
  for (const ref of [`${repo}:${tag}`, `${repo}:${tag}-bad`, `${repo}@${digest}`]) {
    await docker.removeImage(ref, { force: true }).catch(() => {});
  }
  assertEquals(await docker.inspectImage(`${repo}@${digest}`), null);
  // By tag: the engine must fetch the manifest (a digest it has seen it may
  // resolve from its own content store without asking the registry).
  let refusedPull = "";
  try {
    await docker.pullImage(`${repo}:${tag}`, badAuth);
  } catch (e) {
    refusedPull = (e as Error).message;
  }
  assertMatch(refusedPull, /unauthorized|authentication required|no basic auth|denied/i);
  const pulledDigest = (await docker.pullImage(`${repo}:${tag}`, auth)).digest;
  cleanup.push(() => docker.removeImage(`${repo}@${digest}`, { force: true }));
  cleanup.push(() => docker.removeImage(`${repo}:${tag}`, { force: true }));
  assertEquals(pulledDigest, digest);
  const pulled = await docker.inspectImage(`${repo}:${tag}`);
  assert(pulled, "the image pulled over TLS is there");
  assertEquals(pulled.id, base.id);
  note(`pushed and pulled ${digest.slice(0, 19)}...; wrong password: "${refusedPush}"`);
});

reliabilityTest("registry TLS: hosts pull app images through HTTPS", {
  fault: "control and two hosts on the default test configs (registry 127.0.0.1:<tls port>, " +
    "registryCaFile); apps/echo pushed, created, started",
  expected: "the hosts pull the image over HTTPS with auth (the TLS registry logs the pulls) " +
    "and the app answers 200",
}, async (note) => {
  const name = `regtls-${crypto.randomUUID().slice(0, 6)}`;
  const hostname = `${name}.dn.test`;
  const net = new TestNetwork(["regtls-a", "regtls-b"]);
  const log = `${STATE_DIR}/registry/registry.log`;
  const logStart = (await Deno.stat(log)).size;
  try {
    await net.start();
    // The engine pushing the image must not hold it when the hosts ask for it.
    const pushed = await net.buildAndPush(`${ROOT}/apps/echo`, name, 1, "v1");
    for (const ref of [`${REGISTRY}/${name}:v1`, `${REGISTRY}/${name}@${pushed}`]) {
      await net.docker.removeImage(ref).catch(() => {});
    }
    await net.createAndStart(name, hostname, pushed);
    const app = (await net.api("GET", `/v1/apps/${name}`)).body.app;
    // Hosts run the digest control recorded, never a tag.
    assertMatch(app.image, new RegExp(`^${REGISTRY}/${name}@sha256:[0-9a-f]{64}$`));
    const digest = app.image.slice(app.image.indexOf("@") + 1);
    const res = await net.gateway(hostname, "/over-tls");
    assertEquals(res.status, 200);
    assertEquals(await res.text(), "echo GET /over-tls\n");
    const file = await Deno.open(log);
    await file.seek(logStart, Deno.SeekMode.Start);
    const added = await new Response(file.readable).text();
    // A pull asks for the manifest by its digest (HEAD or GET, authenticated:
    // 200) through the engine for the hosts' Deno client; layers the engine
    // already holds it does not fetch again.
    const pulls = added.split("\n").filter((l) =>
      l.includes(`/v2/${name}/manifests/${digest} HTTP/1.1" 200 `) &&
      /"(HEAD|GET) /.test(l) && l.includes("UpstreamClient(Deno")
    );
    assert(pulls.length >= 1, `the TLS registry logged the manifest pull of ${name}`);
    note(
      `${pulls.length} manifest pull(s) of ${name}@${digest.slice(0, 19)}... over HTTPS; ` +
        "app answered 200",
    );
  } finally {
    await net.stop();
    await net.docker.removeImage(`${REGISTRY}/${name}:v1`, { force: true }).catch(() => {});
  }
});
