/**
 * DockerClient against the real Docker Engine on /var/run/docker.sock
 * (`DN_DOCKER_SOCKET` to use another).
 *
 * Containers run from a tiny image imported from the static busybox binary
 * (Debian package `busybox-static`, `/bin/busybox`); push and pull use a
 * throwaway Docker Registry 2 with htpasswd auth (packages `docker-registry`
 * and `apache2-utils`). `scripts/test` installs them; a test fails when one is
 * missing. Every resource is named `dn-test-<run>-…`
 * and removed at the end of its test.
 *
 * Run: deno test --allow-net --allow-read --allow-write --allow-run --allow-env
 */

import assert from "node:assert/strict";
import {
  DockerBuildError,
  DockerClient,
  DockerError,
  DockerInputError,
  DockerPullError,
  DockerPushError,
  DockerUnavailableError,
  type LogLine,
  type RegistryAuth,
  tarDirectory,
  tarEntries,
  type TarEntry,
} from "../../lib/docker/mod.ts";
import { readDockerignore } from "../../lib/docker/dockerignore.ts";

const SOCKET = Deno.env.get("DN_DOCKER_SOCKET") ?? "/var/run/docker.sock";
const RUN = `dn-test-${crypto.randomUUID().slice(0, 8)}`;
const BUSYBOX = "/bin/busybox";
const enc = new TextEncoder();

function docker(): DockerClient {
  return new DockerClient({ socketPath: SOCKET });
}

/** Imports a rootfs with busybox and its applets as `<RUN>-busybox-<tag>:v1`. */
async function importBusybox(client: DockerClient, tag: string): Promise<string> {
  const applets = ["sh", "httpd", "echo", "cat", "find", "sleep", "mkdir", "env", "sort"];
  const entries: TarEntry[] = [
    { type: "directory", name: "bin" },
    { type: "file", name: "bin/busybox", mode: 0o755, data: await Deno.readFile(BUSYBOX) },
    ...applets.map((a): TarEntry => ({ type: "symlink", name: `bin/${a}`, target: "busybox" })),
    { type: "directory", name: "tmp", mode: 0o1777 },
    { type: "directory", name: "www" },
  ];
  const ref = `${RUN}-busybox-${tag}:v1`;
  const lines: string[] = [];
  const { imageId } = await client.importImage(
    tarEntries(entries),
    { repository: `${RUN}-busybox-${tag}`, tag: "v1", changes: ["ENV PATH=/bin", 'CMD ["sh"]'] },
    (line) => lines.push(line),
  );
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(lines, [imageId]);
  return ref;
}

async function makeContext(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dn-test-ctx-" });
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return dir;
}

/** Polls until `check` returns a value, for at most `ms`. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | null>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (true) {
    try {
      const value = await check();
      if (value !== null) return value;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function collectLogs(client: DockerClient, id: string): Promise<LogLine[]> {
  return await Array.fromAsync(await client.containerLogs(id));
}

Deno.test("engine: ping, version and the negotiated API version", async () => {
  using client = docker();
  assert.equal(await client.ping(), true, `no Docker engine at ${SOCKET}`);
  const v = await client.version();
  assert.match(v.apiVersion, /^1\.\d+$/);
  assert.equal(v.os, "linux");
  assert.equal(await client.apiVersion(), "1.41");
});

Deno.test("engine down: ping is false, calls throw DockerUnavailableError", async () => {
  using client = new DockerClient({ socketPath: `/tmp/${RUN}-no-such.sock` });
  assert.equal(await client.ping(), false);
  await assert.rejects(client.listContainers({}), (err: Error) => {
    assert.ok(err instanceof DockerUnavailableError);
    assert.match(err.message, /not reachable at \/tmp\/dn-test-.*no-such\.sock: No such file/);
    return true;
  });
});

Deno.test("bad input is refused before any request", async () => {
  // Any request to this client would fail with DockerUnavailableError instead.
  using client = new DockerClient({ socketPath: `/tmp/${RUN}-no-such.sock` });
  const spec = {
    image: "app:v1",
    env: {},
    labels: {},
    containerPort: 80,
    restartPolicy: "no" as const,
  };
  const calls: [string, () => Promise<unknown>][] = [
    ["container name", () => client.createContainer("../etc", spec)],
    ["container name", () => client.startContainer("a/b")],
    ["container name", () => client.stopContainer("x?y")],
    ["container name", () => client.removeContainer("")],
    ["container name", () => client.inspectContainer("a%2f..")],
    ["container name", () => client.containerLogs("-rf")],
    ["image reference", () => client.createContainer("ok", { ...spec, image: "App" })],
    ["environment variable", () => client.createContainer("ok", { ...spec, env: { "A=B": "c" } })],
    ["container port", () => client.createContainer("ok", { ...spec, containerPort: 0 })],
    ["memory limit", () => client.createContainer("ok", { ...spec, memoryBytes: 1024 })],
    [
      "restart policy",
      () => client.createContainer("ok", { ...spec, restartPolicy: "sometimes" as "no" }),
    ],
    ["image reference", () => client.inspectImage("../../containers/x/json")],
    ["image reference", () => client.removeImage("app:v1?force=1")],
    ["image reference", () => client.tagImage("app v1", "repo", "v1")],
    ["repository", () => client.tagImage("app:v1", "Repo", "v1")],
    ["tag", () => client.pushImage("127.0.0.1:5055/app", "v1&x=y", { ...auth0 }, () => {})],
    ["image reference", () => client.pullImage("127.0.0.1:5055/app:v1#", null)],
    ["image id", () => client.pullImage(`sha256:${"a".repeat(64)}`, null)],
    ["image reference", () => client.build(new Uint8Array(), { tag: "x y" }, () => {})],
    [
      "Dockerfile path",
      () => client.build(new Uint8Array(), { tag: "x", dockerfile: "../Dockerfile" }, () => {}),
    ],
    ["label", () => client.listContainers({ "a=b": "c" })],
    ["tail", () => client.containerLogs("ok", { tail: -1 })],
  ];
  for (const [what, call] of calls) {
    await assert.rejects(call(), (err: Error) => {
      assert.ok(err instanceof DockerInputError, `${what}: got ${err}`);
      assert.ok(err.message.includes(what.split(" ")[0]), `${what}: ${err.message}`);
      return true;
    });
  }
});

const auth0: RegistryAuth = { username: "u", password: "p", serverAddress: "127.0.0.1:5055" };

Deno.test("missing containers and images: inspect null, remove false, start 404", async () => {
  using client = docker();
  assert.equal(await client.inspectContainer(`${RUN}-missing`), null);
  assert.equal(await client.inspectImage(`${RUN}-missing:v1`), null);
  assert.equal(await client.removeContainer(`${RUN}-missing`, { force: true }), false);
  assert.equal(await client.removeImage(`${RUN}-missing:v1`), false);
  await assert.rejects(client.startContainer(`${RUN}-missing`), (err: Error) => {
    assert.ok(err instanceof DockerError && !(err instanceof DockerUnavailableError));
    assert.equal(err.status, 404);
    assert.equal(err.method, "POST");
    assert.equal(err.path, `/v1.41/containers/${RUN}-missing/start`);
    assert.match(err.message, /No such container/);
    return true;
  });
});

Deno.test("build FROM scratch: CLI-like lines, tagged image, reproducible context", async () => {
  using client = docker();
  const long = `${"deep/".repeat(30)}${"n".repeat(120)}.txt`; // needs a PAX header
  const dir = await makeContext({
    "Dockerfile": `FROM scratch\nCOPY hello.txt /\nCOPY ${long} /long.txt\n`,
    "hello.txt": "hello\n",
    [long]: "long\n",
  });
  const tag = `${RUN}-scratch:v1`;
  try {
    const lines: string[] = [];
    const { imageId } = await client.build(tarDirectory(dir), { tag }, (l) => lines.push(l));
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
    const short = imageId.slice(7, 19);
    assert.equal(lines[0], "Step 1/3 : FROM scratch");
    assert.ok(lines.includes("Step 2/3 : COPY hello.txt /"), lines.join("\n"));
    assert.ok(lines.some((l) => /^ ---> [0-9a-f]{12}$/.test(l)), lines.join("\n"));
    assert.deepEqual(lines.slice(-2), [
      `Successfully built ${short}`,
      `Successfully tagged ${tag}`,
    ]);
    const info = await client.inspectImage(tag);
    assert.equal(info?.id, imageId);
    assert.deepEqual(info?.repoTags, [tag]);

    // Same context, same bytes: the second build is all cache, same image.
    const again = await client.build(tarDirectory(dir), { tag }, () => {});
    assert.equal(again.imageId, imageId);
    // A context as bytes works too.
    const bytes = await new Response(tarDirectory(dir)).bytes();
    assert.equal((await client.build(bytes, { tag }, () => {})).imageId, imageId);
  } finally {
    await client.removeImage(tag, { force: true });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build errors: the engine's message in a DockerBuildError", async () => {
  using client = docker();
  const tag = `${RUN}-bad:v1`;
  const context = (dockerfile: string) =>
    tarEntries([{ type: "file", name: "Dockerfile", data: enc.encode(dockerfile) }]);
  // A parse error is the HTTP answer itself...
  await assert.rejects(client.build(context("FORM scratch\n"), { tag }, () => {}), (err: Error) => {
    assert.ok(err instanceof DockerBuildError);
    assert.equal(err.status, 400);
    assert.match(err.message, /unknown instruction: FORM/i);
    return true;
  });
  // ...a failing step is an error message inside a 200 stream.
  const lines: string[] = [];
  await assert.rejects(
    client.build(context("FROM scratch\nCOPY missing.txt /\n"), { tag }, (l) => lines.push(l)),
    (err: Error) => {
      assert.ok(err instanceof DockerBuildError);
      assert.equal(err.status, 200);
      assert.match(err.message, /missing\.txt/);
      return true;
    },
  );
  assert.equal(lines[0], "Step 1/2 : FROM scratch");
  // A base image from a registry that is not there (never Docker Hub: no internet in tests).
  await assert.rejects(
    client.build(context(`FROM 127.0.0.1:1/${RUN}-no-base:v1\n`), { tag }, () => {}),
    (err: Error) => err instanceof DockerBuildError && /127\.0\.0\.1:1/.test(err.message),
  );
  assert.equal(await client.inspectImage(tag), null);
});

Deno.test({
  name: "build context honours .dockerignore (checked inside a container)",
  async fn() {
    using client = docker();
    const base = await importBusybox(client, "ctx");
    const tag = `${RUN}-ctx:v1`;
    const name = `${RUN}-ctx`;
    const dir = await makeContext({
      "Dockerfile": `FROM ${base}\nCOPY . /ctx/\nCMD ["sh", "-c", "cd /ctx && find . | sort"]\n`,
      ".dockerignore": "*.log\nnode_modules\n!node_modules/keep.js\nsecret\n",
      "main.ts": "x\n",
      "debug.log": "no\n",
      "logs/app.log": "yes: rooted patterns\n",
      "node_modules/a.js": "no\n",
      "node_modules/keep.js": "yes\n",
      "secret/key": "no\n",
    });
    try {
      await client.build(tarDirectory(dir, await readDockerignore(dir)), { tag }, () => {});
      const id = await client.createContainer(name, {
        image: tag,
        env: {},
        labels: {},
        containerPort: 80,
        restartPolicy: "no",
      });
      await client.startContainer(id);
      await eventually("the container to exit", async () => {
        const info = await client.inspectContainer(id);
        return info?.state.status === "exited" ? info : null;
      });
      const files = (await collectLogs(client, id)).map((l) => l.line);
      assert.deepEqual(files, [
        ".",
        "./.dockerignore",
        "./Dockerfile",
        "./logs",
        "./logs/app.log",
        "./main.ts",
        "./node_modules",
        "./node_modules/keep.js",
      ]);
    } finally {
      await client.removeContainer(name, { force: true });
      await client.removeImage(tag, { force: true });
      await client.removeImage(base, { force: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "container lifecycle: create, start, reach on 127.0.0.1, logs, stop, restart, remove",
  async fn() {
    using client = docker();
    const image = await importBusybox(client, "life");
    const name = `${RUN}-life`;
    const labels = { "dn.test": RUN, "dn.app": "life" };
    try {
      const id = await client.createContainer(name, {
        image,
        env: { GREETING: "hello from $HOME & co", APP_PORT: "8080" },
        labels,
        containerPort: 8080,
        restartPolicy: "unless-stopped",
        memoryBytes: 64 * 1024 * 1024,
        init: true,
        cmd: [
          "sh",
          "-c",
          'echo "$GREETING" > /www/index.html; echo started; echo warning >&2; ' +
          "exec httpd -f -v -p $APP_PORT -h /www",
        ],
      });
      assert.match(id, /^[0-9a-f]{64}$/);
      const created = await client.inspectContainer(name);
      assert.equal(created?.state.status, "created");
      assert.equal(created?.state.startedAt, null);
      assert.equal(created?.hostPort, null);

      await assert.rejects(
        client.createContainer(name, {
          image,
          env: {},
          labels: {},
          containerPort: 80,
          restartPolicy: "no",
        }),
        (err: Error) =>
          err instanceof DockerError && err.status === 409 && /in use/.test(err.message),
      );

      await client.startContainer(id);
      await client.startContainer(id); // already running: no error
      const info = await client.inspectContainer(id, 8080);
      assert.ok(info);
      assert.equal(info.id, id);
      assert.equal(info.name, name);
      assert.equal(info.image, image);
      assert.equal(info.imageId, (await client.inspectImage(image))?.id);
      assert.equal(info.state.status, "running");
      assert.equal(info.state.running, true);
      assert.ok(info.state.startedAt !== null);
      assert.deepEqual(info.labels, labels);
      assert.ok(info.hostPort !== null && info.hostPort > 0, "no port published on 127.0.0.1");
      assert.equal((await client.inspectContainer(id))?.hostPort, info.hostPort);

      const body = await eventually("the app to answer", async () => {
        const res = await fetch(`http://127.0.0.1:${info.hostPort}/`);
        return await res.text();
      });
      assert.equal(body, "hello from $HOME & co\n");

      const rows = await client.listContainers({ "dn.test": RUN });
      assert.equal(rows.length, 1);
      assert.equal(rows[0].id, id);
      assert.deepEqual(rows[0].names, [name]);
      assert.equal(rows[0].state, "running");
      assert.match(rows[0].status, /^Up /);
      assert.equal(rows[0].hostPort, info.hostPort);
      assert.deepEqual(await client.listContainers({ "dn.test": RUN, "dn.app": "other" }), []);
      assert.equal((await client.listContainers({ "dn.test": "" })).some((r) => r.id === id), true);

      const logs = await collectLogs(client, id);
      assert.ok(logs.some((l) => l.stream === "stdout" && l.line === "started"), String(logs));
      assert.ok(logs.some((l) => l.stream === "stderr" && l.line === "warning"), String(logs));
      assert.ok(logs.some((l) => l.stream === "stderr" && /response:200/.test(l.line)));
      const last = await Array.fromAsync(await client.containerLogs(id, { tail: 1 }));
      assert.equal(last.length, 1);

      const t0 = Date.now();
      await client.stopContainer(id, 10);
      assert.ok(Date.now() - t0 < 5000, "init: true should make SIGTERM stop httpd at once");
      await client.stopContainer(id, 10); // already stopped: no error
      const stopped = await client.inspectContainer(id);
      assert.equal(stopped?.state.status, "exited");
      assert.equal(stopped?.state.running, false);
      assert.ok(stopped?.state.finishedAt !== null);
      assert.equal(stopped?.hostPort, null);
      const exitedRows = await client.listContainers({ "dn.test": RUN }, false);
      assert.deepEqual(exitedRows, []);
      assert.equal((await client.listContainers({ "dn.test": RUN }))[0].state, "exited");

      await client.restartContainer(id, 1);
      const restarted = await client.inspectContainer(id);
      assert.equal(restarted?.state.running, true);
      assert.ok(restarted?.hostPort, "a restarted container is published again (maybe elsewhere)");
      await eventually("the app to answer again", async () => {
        const res = await fetch(`http://127.0.0.1:${restarted.hostPort}/`);
        return await res.text();
      });

      assert.equal(await client.removeContainer(id, { force: true }), true);
      assert.equal(await client.inspectContainer(id), null);
    } finally {
      await client.removeContainer(name, { force: true });
      await client.removeImage(image, { force: true });
    }
  },
});

Deno.test({
  name: "containerLogs: follow streams new lines until cancelled; exit codes",
  async fn() {
    using client = docker();
    const image = await importBusybox(client, "logs");
    const ticker = `${RUN}-ticker`;
    const failer = `${RUN}-failer`;
    const spec = { image, env: {}, labels: {}, containerPort: 80, restartPolicy: "no" as const };
    try {
      const id = await client.createContainer(ticker, {
        ...spec,
        init: true,
        cmd: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"],
      });
      await client.startContainer(id);
      const stream = await client.containerLogs(id, { follow: true });
      const seen: string[] = [];
      for await (const { stream: which, line } of stream) {
        assert.equal(which, "stdout");
        seen.push(line);
        if (seen.length === 5) break; // cancels the stream and its HTTP body
      }
      assert.deepEqual(seen, ["tick 0", "tick 1", "tick 2", "tick 3", "tick 4"]);

      const since = Date.now() / 1000;
      await new Promise((r) => setTimeout(r, 300));
      const recent = await Array.fromAsync(await client.containerLogs(id, { since }));
      assert.ok(recent.length >= 1 && recent.length < 10, `${recent.length} lines since`);
      assert.ok(!recent.some((l) => l.line === "tick 0"));

      const fid = await client.createContainer(failer, {
        ...spec,
        cmd: ["sh", "-c", "echo bye >&2; exit 3"],
      });
      await client.startContainer(fid);
      const done = await eventually("the container to exit", async () => {
        const info = await client.inspectContainer(fid);
        return info?.state.status === "exited" ? info : null;
      });
      assert.equal(done.state.exitCode, 3);
      assert.deepEqual(await collectLogs(client, fid), [{ stream: "stderr", line: "bye" }]);
    } finally {
      await client.removeContainer(ticker, { force: true });
      await client.removeContainer(failer, { force: true });
      await client.removeImage(image, { force: true });
    }
  },
});

/** Starts a throwaway registry with htpasswd auth on a free loopback port. */
async function startRegistry(): Promise<
  { address: string; auth: RegistryAuth; stop(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "dn-test-registry-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const password = crypto.randomUUID();
  const hash = await new Deno.Command("htpasswd", { args: ["-Bbn", "dn", password] }).output();
  assert.ok(hash.success);
  await Deno.writeFile(`${dir}/htpasswd`, hash.stdout);
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log: { level: warn }",
      `storage: { filesystem: { rootdirectory: ${dir}/data } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      `auth: { htpasswd: { realm: dn-test, path: ${dir}/htpasswd } }`,
    ].join("\n"),
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const address = `127.0.0.1:${port}`;
  await eventually("the registry", async () => {
    const res = await fetch(`http://${address}/v2/`);
    await res.body?.cancel();
    return res.status === 401 ? true : null;
  });
  return {
    address,
    auth: { username: "dn", password, serverAddress: address },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "push and pull through a registry with auth",
  async fn() {
    using client = docker();
    const registry = await startRegistry();
    const local = `${RUN}-push:v1`;
    const repo = `${registry.address}/${RUN}-push`;
    let imageId = "";
    try {
      const context = tarEntries([
        { type: "file", name: "Dockerfile", data: enc.encode("FROM scratch\nCOPY a.txt /\n") },
        { type: "file", name: "a.txt", data: enc.encode(`${RUN}\n`) },
      ]);
      imageId = (await client.build(context, { tag: local }, () => {})).imageId;
      await client.tagImage(local, repo, "v1");
      assert.deepEqual((await client.inspectImage(`${repo}:v1`))?.id, imageId);

      const lines: string[] = [];
      const { digest } = await client.pushImage(repo, "v1", registry.auth, (l) => lines.push(l));
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(lines[0], `The push refers to repository [${repo}]`);
      assert.ok(lines.some((l) => /^[0-9a-f]{12}: Pushed$/.test(l)), lines.join("\n"));
      assert.match(lines[lines.length - 1], new RegExp(`^v1: digest: ${digest} size: \\d+$`));

      const again: string[] = [];
      const second = await client.pushImage(repo, "v1", registry.auth, (l) => again.push(l));
      assert.equal(second.digest, digest);
      assert.ok(
        again.some((l) => /^[0-9a-f]{12}: Layer already exists$/.test(l)),
        again.join("\n"),
      );

      const wrong = { ...registry.auth, password: "wrong" };
      await assert.rejects(client.pushImage(repo, "v1", wrong, () => {}), (err: Error) => {
        assert.ok(err instanceof DockerPushError);
        assert.match(err.message, /^push .*: unauthorized: authentication required$/);
        return true;
      });
      await assert.rejects(
        client.pushImage(`${registry.address}/${RUN}-nothing`, "v1", registry.auth, () => {}),
        (err: Error) =>
          err instanceof DockerPushError && /does not exist locally/.test(err.message),
      );

      assert.equal(await client.removeImage(`${repo}:v1`), true);
      assert.equal(await client.inspectImage(`${repo}:v1`), null);
      const pulled: string[] = [];
      const pull = await client.pullImage(`${repo}:v1`, registry.auth, (l) => pulled.push(l));
      assert.equal(pull.digest, digest);
      assert.ok(pulled.includes(`Digest: ${digest}`), pulled.join("\n"));
      const info = await client.inspectImage(`${repo}:v1`);
      assert.equal(info?.id, imageId);
      assert.ok(info?.repoDigests.includes(`${repo}@${digest}`));
      assert.equal((await client.pullImage(`${repo}@${digest}`, registry.auth)).digest, digest);

      await assert.rejects(
        client.pullImage(`${repo}:v1`, null),
        (err: Error) =>
          err instanceof DockerPullError && /no basic auth credentials/.test(err.message),
      );
      await assert.rejects(
        client.pullImage(`${repo}:v1`, wrong),
        (err: Error) => err instanceof DockerPullError && /unauthorized/.test(err.message),
      );
      await assert.rejects(
        client.pullImage(`${repo}:v404`, registry.auth),
        (err: Error) => err instanceof DockerPullError && /manifest unknown/.test(err.message),
      );
    } finally {
      // By id: removes the local tag, the registry tag and the digest reference together.
      if (imageId !== "") await client.removeImage(imageId, { force: true });
      await client.removeImage(local, { force: true });
      await registry.stop();
    }
  },
});

Deno.test({
  name: "container events: a container's start and die arrive as they happen, filtered by label",
  async fn() {
    using client = docker();
    const image = await importBusybox(client, "events");
    const name = `${RUN}-events`;
    const labels = { "dn.test": RUN, "dn.app": "events" };
    const stop = new AbortController();
    const seen: { action: string; id: string; exitCode?: string }[] = [];
    const following = (async () => {
      for await (const e of client.containerEvents(labels, ["start", "die"], stop.signal)) {
        seen.push({ action: e.action, id: e.id, exitCode: e.attributes.exitCode });
        assert.equal(e.attributes["dn.app"], "events");
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 300)); // the stream is open
      const id = await client.createContainer(name, {
        image,
        env: {},
        labels,
        containerPort: 8080,
        restartPolicy: "no",
        cmd: ["sh", "-c", "exit 7"],
      });
      await client.startContainer(id);
      await eventually(
        "start and die events",
        () => Promise.resolve(seen.length >= 2 ? seen : null),
      );
      assert.deepEqual(seen.slice(0, 2), [
        { action: "start", id, exitCode: undefined },
        { action: "die", id, exitCode: "7" },
      ]);
      stop.abort();
      await following; // an aborted stream ends quietly
      await assert.rejects(
        async () => {
          for await (const _ of client.containerEvents(labels, ["die; rm"], stop.signal)) break;
        },
        DockerInputError,
      );
    } finally {
      stop.abort();
      await client.removeContainer(name, { force: true });
      await client.removeImage(image, { force: true });
    }
  },
});
