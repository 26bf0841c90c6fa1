import { assertEquals } from "../helpers/assert.ts";
import {
  APP_DEFAULTS,
  type AppRecord,
  type AppStatusReport,
  type ContainerReport,
} from "../../lib/apps.ts";
import { cut, renderTable } from "../../cli/format/table.ts";
import { containerStatus, humanDuration, relativeTime } from "../../cli/format/time.ts";
import {
  behindLine,
  humanSize,
  LIST_COLUMNS,
  renderList,
  renderStatus,
  shortImageId,
  STATUS_COLUMNS,
} from "../../cli/format/views.ts";

const NOW = new Date("2017-09-01T12:00:00.000Z");
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const IMAGE = "sha256:6f0d8b9aefff3c1c0bd9e7d2a5b3b6e1f0d64f1b1e4d2c6b7a8f9e0d1c2b3a4f";
const DIGEST = "sha256:6f0d8b9e0d1c2b3a4f6f0d8b9aefff3c1c0bd9e7d2a5b3b6e1f0d64f1b1e4d2c";

function app(over: Partial<AppRecord> = {}): AppRecord {
  return {
    name: "hello-world",
    hostname: "hello-world.dispersed.network",
    port: 80,
    status: "running",
    version: 1,
    image: `registry.dispersed.network/hello-world@${DIGEST}`,
    digest: DIGEST,
    createdAt: ago(2 * M),
    updatedAt: ago(2 * M),
    ...APP_DEFAULTS,
    latestVersion: 1,
    ...over,
  };
}

function container(over: Partial<ContainerReport> = {}): ContainerReport {
  return {
    id: "c0ffee",
    imageId: IMAGE,
    version: 1,
    digest: DIGEST,
    serving: true,
    state: "running",
    exitCode: 0,
    createdAt: ago(5 * S),
    startedAt: ago(12 * S),
    finishedAt: "0001-01-01T00:00:00Z",
    ...over,
  };
}

// --- tables -----------------------------------------------------------------

Deno.test("cut leaves short text alone and ends cut text in ...", () => {
  assertEquals(cut("meridia", 20), "meridia");
  assertEquals(cut("a".repeat(20), 20), "a".repeat(20));
  assertEquals(cut("vaermina.dispersed.network", 20), "vaermina.disperse...");
  assertEquals(cut("exited (0) 15 seconds ago", 20), "exited (0) 15 sec...");
  assertEquals(cut("abcdef", 3), "...");
});

Deno.test("table headers have the seed's column widths", () => {
  assertEquals(
    renderTable(LIST_COLUMNS, [])[0],
    "APPLICATION                   CREATED               STATUS",
  );
  assertEquals(
    renderTable(STATUS_COLUMNS, [])[0],
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
  );
});

Deno.test("a cell exactly as wide as its column minus the gap is not cut", () => {
  const [, row] = renderTable(STATUS_COLUMNS, [["a".repeat(20), "x", "y", "z", "1 ms"]]);
  assertEquals(row.slice(0, 22), "a".repeat(20) + "  ");
  const [, cutRow] = renderTable(STATUS_COLUMNS, [["a".repeat(21), "x", "y", "z", "1 ms"]]);
  assertEquals(cutRow.slice(0, 22), "a".repeat(17) + "...  ");
});

Deno.test("lines have no trailing spaces", () => {
  const [, row] = renderTable(LIST_COLUMNS, [["blog (v4)", "a day ago", ""]]);
  assertEquals(row, "blog (v4)                     a day ago");
});

// --- the seed's transcripts, rebuilt from data ------------------------------

Deno.test("dn list reproduces the seed's table", () => {
  const apps = [
    app({ name: "example", version: 1, createdAt: ago(70 * S), status: "running" }),
    app({ name: "blog", version: 4, createdAt: ago(30 * H), status: "running" }),
  ];
  assertEquals(renderList(apps, NOW), [
    "APPLICATION                   CREATED               STATUS",
    "blog (v4)                     a day ago             running",
    "example (v1)                  a minute ago          running",
  ]);
});

Deno.test("dn status reproduces the seed's running table (step 6)", () => {
  const hostReport = (host: string, latencyMs: number) => ({
    host,
    latencyMs,
    containers: [container()],
  });
  const report: AppStatusReport = {
    app: app({ status: "running", version: 1 }),
    hosts: [
      hostReport("sanguine.dispersed.network", 48.2),
      hostReport("meridia.dispersed.network", 49),
      hostReport("vaermina.dispersed.network", 48.6),
    ],
  };
  assertEquals(renderStatus(report, NOW), [
    "Name: hello-world",
    "Status: running",
    "Version: 1",
    "",
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
    "meridia.dispersed...  6f0d8b9    v1       a few seconds ago     up 12 seconds         49 ms",
    "sanguine.disperse...  6f0d8b9    v1       a few seconds ago     up 12 seconds         48 ms",
    "vaermina.disperse...  6f0d8b9    v1       a few seconds ago     up 12 seconds         49 ms",
  ]);
});

Deno.test("dn status reproduces the seed's stopped table (step 8)", () => {
  const stopped = container({
    state: "exited",
    exitCode: 0,
    createdAt: ago(80 * S),
    startedAt: ago(75 * S),
    finishedAt: ago(15 * S),
  });
  const report: AppStatusReport = {
    app: app({ status: "stopped" }),
    hosts: ["vaermina", "sanguine", "meridia"].map((h) => ({
      host: `${h}.dispersed.network`,
      latencyMs: 50,
      containers: [stopped],
    })),
  };
  assertEquals(renderStatus(report, NOW).slice(4), [
    "HOST                  IMAGE      VERSION  CREATED               STATUS                     LATENCY",
    "meridia.dispersed...  6f0d8b9    v1       a minute ago          exited (0) 15 seconds ago  50 ms",
    "sanguine.disperse...  6f0d8b9    v1       a minute ago          exited (0) 15 seconds ago  50 ms",
    "vaermina.disperse...  6f0d8b9    v1       a minute ago          exited (0) 15 seconds ago  50 ms",
  ]);
});

Deno.test("dn status of a created app has the header and no rows (step 4)", () => {
  const report: AppStatusReport = {
    app: app({ status: "created" }),
    hosts: [{ host: "meridia", latencyMs: 3, containers: [] }],
  };
  assertEquals(renderStatus(report, NOW), [
    "Name: hello-world",
    "Status: created",
    "Version: 1",
    "",
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
  ]);
});

Deno.test("dn status lists every container of a host, newest version first", () => {
  const report: AppStatusReport = {
    app: app({ version: 2 }),
    hosts: [{
      host: "vaermina",
      latencyMs: 2,
      containers: [
        container({ version: 1, digest: `sha256:${"a".repeat(64)}` }),
        container({ version: 2, startedAt: ago(3 * S) }),
      ],
    }],
  };
  assertEquals(renderStatus(report, NOW).slice(5), [
    "vaermina              6f0d8b9    v2       a few seconds ago     up 3 seconds          2 ms",
    "vaermina              aaaaaaa    v1       a few seconds ago     up 12 seconds         2 ms",
    "",
    "! vaermina runs aaaaaaa (v1), not the accepted 6f0d8b9",
  ]);
});

Deno.test("shortImageId takes 7 hex digits after sha256:", () => {
  assertEquals(shortImageId(IMAGE), "6f0d8b9");
  assertEquals(shortImageId("6f0d8b9aefff"), "6f0d8b9");
});

// --- relative time ----------------------------------------------------------

Deno.test("relativeTime follows moment's thresholds at each boundary", () => {
  const cases: [number, string][] = [
    [0, "a few seconds ago"],
    [44 * S, "a few seconds ago"],
    [44.4 * S, "a few seconds ago"],
    [44.5 * S, "a minute ago"],
    [89 * S, "a minute ago"],
    [90 * S, "2 minutes ago"],
    [5 * M, "5 minutes ago"],
    [44 * M, "44 minutes ago"],
    [44.5 * M, "an hour ago"],
    [89 * M, "an hour ago"],
    [90 * M, "2 hours ago"],
    [21 * H, "21 hours ago"],
    [21.5 * H, "a day ago"],
    [35 * H, "a day ago"],
    [36 * H, "2 days ago"],
    [3 * D, "3 days ago"],
    [25 * D, "25 days ago"],
    [25.5 * D, "a month ago"],
    [45 * D, "a month ago"],
    [46 * D, "2 months ago"],
    [319 * D, "10 months ago"],
    [320 * D, "a year ago"],
    [547 * D, "a year ago"],
    [548 * D, "2 years ago"],
    [3650 * D, "10 years ago"],
  ];
  for (const [ms, text] of cases) assertEquals(relativeTime(ago(ms), NOW), text, `${ms} ms`);
});

Deno.test("relativeTime treats future times as now and bad times as unknown", () => {
  assertEquals(relativeTime(new Date(NOW.getTime() + 5 * M), NOW), "a few seconds ago");
  assertEquals(relativeTime("", NOW), "");
  assertEquals(relativeTime("yesterday-ish", NOW), "");
});

// --- durations and container status -----------------------------------------

Deno.test("humanDuration words elapsed times like docker ps", () => {
  const cases: [number, string][] = [
    [0, "less than a second"],
    [999, "less than a second"],
    [S, "1 second"],
    [3 * S, "3 seconds"],
    [59 * S, "59 seconds"],
    [60 * S, "a minute"],
    [119 * S, "a minute"],
    [2 * M, "2 minutes"],
    [59 * M, "59 minutes"],
    [60 * M, "an hour"],
    [89 * M, "an hour"],
    [90 * M, "2 hours"],
    [47 * H, "47 hours"],
    [48 * H, "2 days"],
    [13 * D, "13 days"],
    [14 * D, "2 weeks"],
    [59 * D, "8 weeks"],
    [60 * D, "2 months"],
    [729 * D, "24 months"],
    [730 * D, "2 years"],
    [-5 * S, "less than a second"],
  ];
  for (const [ms, text] of cases) assertEquals(humanDuration(ms), text, `${ms} ms`);
});

Deno.test("containerStatus words each container state", () => {
  const base = { exitCode: 0, startedAt: ago(3 * S), finishedAt: ago(15 * S) };
  assertEquals(containerStatus({ ...base, state: "running" }, NOW), "up 3 seconds");
  assertEquals(
    containerStatus({ ...base, state: "running", startedAt: ago(2 * M) }, NOW),
    "up 2 minutes",
  );
  assertEquals(
    containerStatus({ ...base, state: "running", startedAt: ago(H) }, NOW),
    "up an hour",
  );
  assertEquals(containerStatus({ ...base, state: "paused" }, NOW), "up 3 seconds (paused)");
  assertEquals(containerStatus({ ...base, state: "exited" }, NOW), "exited (0) 15 seconds ago");
  assertEquals(
    containerStatus({ ...base, state: "exited", exitCode: 137, finishedAt: "" }, NOW),
    "exited (137)",
  );
  assertEquals(
    containerStatus({ ...base, state: "restarting", exitCode: 1 }, NOW),
    "restarting (1) 15 seconds ago",
  );
  assertEquals(containerStatus({ ...base, state: "created" }, NOW), "created");
  assertEquals(containerStatus({ ...base, state: "removing" }, NOW), "removal in progress");
  assertEquals(containerStatus({ ...base, state: "dead" }, NOW), "dead");
});

Deno.test("containerStatus puts an OOM kill first", () => {
  const base = { exitCode: 137, startedAt: ago(3 * S), finishedAt: ago(15 * S), oomKilled: true };
  assertEquals(containerStatus({ ...base, state: "running" }, NOW), "OOM killed, up 3 seconds");
  assertEquals(containerStatus({ ...base, state: "restarting" }, NOW), "OOM killed, restarting");
  assertEquals(containerStatus({ ...base, state: "exited" }, NOW), "OOM killed 15 seconds ago");
  assertEquals(
    containerStatus({ ...base, state: "exited", finishedAt: "" }, NOW),
    "OOM killed",
  );
  assertEquals(
    containerStatus({ ...base, state: "exited", oomKilled: false }, NOW),
    "exited (137) 15 seconds ago",
  );
});

Deno.test("humanSize prints sizes like the docker CLI", () => {
  assertEquals(humanSize(156_700), "156.7kB");
  assertEquals(humanSize(512), "512B");
  assertEquals(humanSize(2_500_000), "2.5MB");
  assertEquals(humanSize(1_234_567), "1.235MB");
});

Deno.test("dn status names hosts still running an older version", () => {
  const report: AppStatusReport = {
    app: app({ status: "running", version: 3 }),
    hosts: [
      { host: "dn-m2", latencyMs: 2, containers: [container({ version: 3 })] },
      {
        host: "dn-m1",
        latencyMs: 2,
        containers: [container({ version: 2 }), container({ version: 3, state: "created" })],
      },
      { host: "dn-m3", latencyMs: 2, containers: [container({ version: 2, state: "exited" })] },
    ],
  };
  assertEquals(renderStatus(report, NOW).slice(0, 5), [
    "Name: hello-world",
    "Status: running",
    "Version: 3",
    "Behind: dn-m1 (v2)",
    "",
  ]);
  assertEquals(behindLine({ ...report, app: app({ status: "stopped", version: 3 }) }), null);
});
