/**
 * `dn` waits until it is true, and failures are said: run, start, update,
 * env and rollback wait until every placed host serves the new release, and
 * fail naming each host's reason when none does; `dn status` rows say
 * starting, not ready or crash-looping, with a line per host saying why.
 *
 * @module
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import type { ContainerReport, HostReport } from "../../lib/apps.ts";
import { problemLines, rowStatus } from "../../cli/format/readiness.ts";
import { renderStatus } from "../../cli/format/views.ts";
import { serveProgress, stopProgress } from "../../cli/wait.ts";
import { NOW, World } from "./cli_fixtures/world.ts";

const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const FAILED = "container dn-x did not become ready in time: connection refused";
const FAILURE_R1 = { version: 1, revision: 1, message: FAILED };

function container(over: Partial<ContainerReport> = {}): ContainerReport {
  return {
    id: "c1",
    imageId: "sha256:6f0d8b9aefff",
    version: 2,
    revision: 0,
    state: "running",
    exitCode: 0,
    createdAt: ago(5_000),
    startedAt: ago(3_000),
    finishedAt: "",
    serving: true,
    ...over,
  };
}

const APP = { name: "a", status: "running", version: 2, revision: 0, placement: [] as string[] };

function host(name: string, containers: ContainerReport[], over: Partial<HostReport> = {}) {
  return { host: name, latencyMs: 0.4, containers, ...over };
}

Deno.test("serveProgress: placed hosts must serve the release; each other host says why", () => {
  const hosts = [
    host("a1", [container()]),
    host("a2", [container({ serving: false })]),
    host("a3", [container({ serving: false, probeError: "connection refused" })]),
    host("a4", [container({ version: 1 })]),
    host("a5", [], { failure: { version: 2, revision: 0, message: FAILED } }),
    host("a6", [container({ state: "restarting", exitCode: 1, restartCount: 8, serving: false })]),
  ];
  const p = serveProgress(APP, hosts);
  assertEquals(p.done, ["a1"]);
  assertEquals(Object.fromEntries(p.behind), {
    a2: "starting",
    a3: "last probe: connection refused",
    a4: "no container of it yet (pulling or queued)",
    a6: "crash-looping (exit 1), 8 restarts",
  });
  assertEquals(Object.fromEntries(p.failed), { a5: FAILED });
  const placed = serveProgress({ ...APP, placement: ["a1", "gone"] }, hosts);
  assertEquals([placed.done, Object.fromEntries(placed.behind)], [["a1"], {
    gone: "did not answer",
  }]);
  // An old failure (another version or revision) is not this release's.
  const old = host("a7", [], { failure: { version: 2, revision: 1, message: "x" } });
  assertEquals(serveProgress(APP, [old]).failed.size, 0);
});

Deno.test("stopProgress: done when nothing runs", () => {
  const p = stopProgress([host("a1", [container({ state: "exited" })]), host("a2", [container()])]);
  assertEquals([p.done, Object.fromEntries(p.behind)], [["a1"], {
    a2: "1 container(s) still running",
  }]);
});

Deno.test("status rows say starting, not ready, crash-looping; a line says why", () => {
  const app = { status: "running", version: 2, revision: 0 };
  assertEquals(rowStatus(container(), app, NOW), "up 3 seconds");
  assertEquals(rowStatus(container({ serving: false }), app, NOW), "up 3 seconds, starting");
  assertEquals(
    rowStatus(container({ serving: false, probeError: "refused" }), app, NOW),
    "up 3 seconds, not ready",
  );
  assertEquals(
    rowStatus(container({ state: "restarting", exitCode: 1, restartCount: 8 }), app, NOW),
    "crash-looping (exit 1), 8 restarts",
  );
  assertEquals(rowStatus(container({ restartCount: 1 }), app, NOW), "up 3 seconds, 1 restart");
  // Old versions and stopped apps keep the seed's words.
  assertEquals(rowStatus(container({ version: 1, serving: false }), app, NOW), "up 3 seconds");
  const crashing = container({
    state: "restarting",
    exitCode: 1,
    restartCount: 3,
    probeError: "connect ECONNREFUSED",
  });
  assertEquals(
    problemLines(app, [
      host("a1", [container()]),
      host("a2", [crashing], { failure: { version: 2, revision: 0, message: FAILED } }),
    ]),
    ["", `! a2: crash-looping (exit 1), 3 restarts; ${FAILED}`],
  );
  const lines = renderStatus({
    app: { name: "a", status: "running", version: 2 },
    hosts: [host("a2", [crashing])],
  }, NOW);
  assertEquals(lines[1], "Status: not serving (crash-looping)");
  assertEquals(
    lines.at(-1),
    "! a2: crash-looping (exit 1), 3 restarts; last probe: connect ECONNREFUSED",
  );
});

Deno.test("dn start waits for the hosts and fails naming them when none serves", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", status: "stopped" });
  const ok = await world.run(["start"]);
  assertEquals(ok, { code: 0, out: ["hello-world (hello-world.dn.local) started"], err: [] });
  assert(world.requests.some((r) => r.path.endsWith("/status")), "start asked for the status");

  for (const h of ["vaermina", "meridia"]) {
    world.broken.set(h, {
      container: { state: "restarting", exitCode: 1, restartCount: 4, serving: false },
      report: { failure: { version: 1, revision: 0, message: FAILED } },
    });
  }
  const failed = await world.run(["start"]);
  assertEquals(failed.code, 1);
  assertEquals(failed.out, []);
  assertEquals(failed.err, [
    "hello-world v1 is not served by any host: " +
    `vaermina: crash-looping (exit 1), 4 restarts; ${FAILED}; ` +
    `meridia: crash-looping (exit 1), 4 restarts; ${FAILED}`,
  ]);
  const quick = await world.run(["start", "--no-wait"]);
  assertEquals(quick, { code: 0, out: ["hello-world (hello-world.dn.local) started"], err: [] });
});

Deno.test("one host failed: the command succeeds and names it on standard error", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", status: "running" });
  world.broken.set("meridia", {
    container: { serving: false },
    report: { failure: FAILURE_R1 },
  });
  const r = await world.run(["env", "set", "A=1"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertEquals(r.out, ["hello-world (hello-world.dn.local) env set: A"]);
  assertEquals(r.err, [`dn: meridia does not serve hello-world v1 r1 yet: ${FAILED}`]);
  const r2 = { container: { serving: false }, report: { failure: { ...FAILURE_R1, revision: 2 } } };
  world.broken.set("meridia", r2);
  world.broken.set("vaermina", r2);
  const none = await world.run(["env", "unset", "A"]);
  assertEquals(none.code, 1);
  assert(none.err[0].startsWith("hello-world v1 r2 is not served by any host: "), none.err[0]);
});
