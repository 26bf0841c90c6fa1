/**
 * The seed's walkthrough, steps 1–10, with the real `dn` CLI against a real
 * local network; then `dn update` to a new version. Every output line is
 * checked for the seed's shape.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";

const NAME = "walkthrough";
const HOSTNAME = "walkthrough.dn.test";
const opts = { sanitizeOps: false, sanitizeResources: false };
let net: TestNetwork;
let dir: string;

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-walkthrough-" });
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/apps/hello-world/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `#\n# walkthrough test app\n#\nAPP_NAME      ${NAME}\nAPP_HOSTNAME  ${HOSTNAME}\nAPP_PORT      8000\n`,
  );
  net = await startNetwork();
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

const dn = (...args: string[]) => net.cli(args, dir);

function lines(text: string): string[] {
  return text.replace(/\n$/, "").split("\n");
}

const STATUS_HEADER =
  "HOST                  IMAGE      CREATED               STATUS                LATENCY";
/** A status row split at the seed's column widths (22, 11, 22, 22, rest), each checked. */
function parseRow(line: string): string[] {
  const cells = [[0, 22], [22, 33], [33, 55], [55, 77], [77, undefined]]
    .map(([from, to]) => line.slice(from, to).trim());
  const [host, image, created, status, latency] = cells;
  assertMatch(host, /^\S{1,20}$/);
  assertMatch(image, /^[0-9a-f]{7}$/);
  assertMatch(created, /^(a few seconds|a minute|\d+ minutes|an hour) ago$/);
  assertMatch(
    status,
    /^(up .+|exited \(\d+\) .+|created|restarting.*|removal in progress|paused|dead)$/,
  );
  assert(status.length <= 20, `status cut to 20: ${status}`);
  assertMatch(latency, /^\d+ ms$/);
  return ["", ...cells];
}

/** Runs `dn status` until `ready` holds for its rows (hosts act asynchronously). */
async function statusUntil(
  ready: (rows: string[][], out: string[]) => boolean,
  timeoutMs = 60_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let out: string[] = [];
  while (Date.now() < deadline) {
    const result = await dn("status");
    assertEquals(result.code, 0, result.stderr);
    out = lines(result.stdout);
    const rows = out.slice(5).map(parseRow);
    if (ready(rows, out)) return out;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`status never settled:\n${out.join("\n")}`);
}

Deno.test("1. dn list shows the table header", opts, async () => {
  const result = await dn("list");
  assertEquals(result.code, 0, result.stderr);
  assertEquals(
    lines(result.stdout)[0],
    "APPLICATION                   CREATED               STATUS",
  );
});

Deno.test("3. dn create builds, pushes and creates", opts, async () => {
  const result = await dn("create");
  assertEquals(result.code, 0, result.stderr);
  const out = lines(result.stdout);
  assert(out.some((l) => /^Step 1\/\d+ : FROM /.test(l)), "build steps are shown");
  assert(out.some((l) => l.startsWith("Successfully tagged ")), "image is tagged");
  assert(out.some((l) => /^v1: digest: sha256:[0-9a-f]{64} size: \d+$/.test(l)), "digest shown");
  assertEquals(out.at(-1), `${NAME} (${HOSTNAME}) created`);
});

Deno.test("4. dn status of a created app has no rows", opts, async () => {
  const result = await dn("status");
  assertEquals(lines(result.stdout), [
    `Name: ${NAME}`,
    "Status: created",
    "Version: 1",
    "",
    STATUS_HEADER,
  ]);
});

Deno.test("5-6. dn start, then status shows one running row per host", opts, async () => {
  const result = await dn("start");
  assertEquals(result.stdout, `${NAME} (${HOSTNAME}) started\n`);
  const out = await statusUntil((rows) =>
    rows.length === 3 && rows.every((r) => /^up /.test(r[4]))
  );
  assertEquals(out.slice(0, 5), [
    `Name: ${NAME}`,
    "Status: running",
    "Version: 1",
    "",
    STATUS_HEADER,
  ]);
  const hosts = out.slice(5).map((l) => parseRow(l)[1]).sort();
  assertEquals(hosts, [...net.hostNames].sort());
  for (const line of out.slice(5)) assertMatch(line, /a few seconds ago|a minute ago/);
});

Deno.test("6b. the app answers through the gateway", opts, async () => {
  await net.waitForApp(HOSTNAME, (res) => res.status === 200, 30_000);
});

Deno.test("7-8. dn stop, then status shows exited containers", opts, async () => {
  const result = await dn("stop");
  assertEquals(result.stdout, `${NAME} (${HOSTNAME}) stopped\n`);
  const out = await statusUntil((rows) =>
    rows.length === 3 && rows.every((r) => /^exited \(0\)/.test(r[4]))
  );
  assertEquals(out[1], "Status: stopped");
  await net.waitForApp(HOSTNAME, (res) => res.status === 503, 10_000);
});

Deno.test("update: dn update bumps the version and the new code answers", opts, async () => {
  assertEquals((await dn("start")).code, 0);
  await net.waitForApp(HOSTNAME, (res) => res.status === 200, 30_000);
  const source = await Deno.readTextFile(`${dir}/main.ts`);
  await Deno.writeTextFile(`${dir}/main.ts`, source.replaceAll("Hello, world!", "Hello, v2!"));
  const result = await dn("update");
  assertEquals(result.code, 0, result.stderr);
  assertEquals(lines(result.stdout).at(-1), `${NAME} (${HOSTNAME}) updated to v2`);
  await net.waitForApp(HOSTNAME, (_res, body) => body.includes("Hello, v2!"), 60_000);
  const out = await statusUntil((rows) =>
    rows.length === 3 && rows.every((r) => /^up /.test(r[4]))
  );
  assertEquals(out[2], "Version: 2");
});

Deno.test("9-10. dn remove, then status says not found", opts, async () => {
  const removed = await dn("remove");
  assertEquals(removed.stdout, `${NAME} removed\n`);
  const status = await dn("status");
  assertEquals(status.code, 1);
  assertEquals(status.stderr.trim(), `${NAME} not found`);
});
