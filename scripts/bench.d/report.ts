/**
 * Writes BENCHMARKS.md from the raw results of one scripts/bench run:
 *
 *   report.ts WORKDIR OUT.md
 *
 * WORKDIR holds facts.tsv, roles.tsv, runs.tsv and per run <id>.json (wrk
 * Lua summary), <id>.txt (wrk output), <id>.before/.after (/proc snapshots
 * with .ps), <id>.rss (VmRSS samples), plus idle.*, after.rss and the probe
 * results deploy.json, update.json, remove.json, failover.json, restart.json.
 */

const [dir, out] = Deno.args;
const read = (name: string) => {
  try {
    return Deno.readTextFileSync(`${dir}/${name}`);
  } catch {
    return "";
  }
};
const readJson = (name: string) => {
  const text = read(name).trim();
  return text ? JSON.parse(text) : null;
};

const facts = new Map(
  read("facts.tsv").trim().split("\n").map((l) => {
    const i = l.indexOf("\t");
    return [l.slice(0, i), l.slice(i + 1)] as [string, string];
  }),
);
const fact = (k: string) => facts.get(k) ?? "?";
const nproc = Number(fact("nproc")) || 1;
const clkTck = Number(fact("clk_tck")) || 100;
const hostNames = ["vaermina", "sanguine", "meridia"];

const roles = new Map<number, string>();
for (const line of read("roles.tsv").trim().split("\n")) {
  const [role, pid] = line.split("\t");
  if (pid) roles.set(Number(pid), role);
}

// ------------------------------------------------------------ CPU accounting

const GROUPS = [
  "app",
  "docker-proxy",
  "nginx",
  "gateway",
  "hosts",
  "control",
  "rabbitmq",
  "redis",
  "docker engine",
  "wrk",
  "other",
] as const;
type Group = typeof GROUPS[number];

interface Proc {
  ticks: number;
  rssPages: number;
  comm: string;
}
interface Snapshot {
  t: number;
  procs: Map<number, Proc>;
  args: Map<number, string>;
}

function snapshot(name: string): Snapshot {
  const procs = new Map<number, Proc>();
  let t = 0;
  for (const line of read(name).split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    if (f[0] === "T") t = Number(f[1]);
    else procs.set(Number(f[0]), { ticks: Number(f[1]), rssPages: Number(f[2]), comm: f[3] });
  }
  const args = new Map<number, string>();
  for (const line of read(`${name}.ps`).split("\n")) {
    const m = /^\s*(\d+)\s+\S+\s+(.*)$/.exec(line);
    if (m) args.set(Number(m[1]), m[2]);
  }
  return { t, procs, args };
}

function classify(pid: number, comm: string): Group {
  const role = roles.get(pid);
  if (role === "gateway" || role === "control" || role === "nginx" || role === "app") return role;
  if (role && hostNames.includes(role)) return "hosts";
  // Other Erlang VMs (rabbitmqctl runs, a second broker of a test) are "other".
  if (role === "rabbitmq" || ["epmd", "erl_child_setup", "inet_gethost"].includes(comm)) {
    return "rabbitmq";
  }
  if (comm === "redis-server") return "redis";
  if (comm === "docker-proxy") return "docker-proxy";
  if (["dockerd", "containerd", "containerd-shim", "runc"].includes(comm)) return "docker engine";
  if (comm === "nginx") return "nginx";
  if (comm === "wrk") return "wrk";
  return "other";
}

interface CpuUse {
  windowMs: number;
  groups: Record<Group, number>; // CPU ms
  hosts: Record<string, number>;
  top: { pid: number; group: Group; what: string; ms: number }[];
}

function cpuUse(prefix: string, wrkCpuMs = 0): CpuUse {
  const a = snapshot(`${prefix}.before`), b = snapshot(`${prefix}.after`);
  const groups = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  const hosts: Record<string, number> = {};
  const top: CpuUse["top"] = [];
  for (const [pid, p] of b.procs) {
    const ms = (p.ticks - (a.procs.get(pid)?.ticks ?? 0)) * 1000 / clkTck;
    if (ms <= 0) continue;
    const args = b.args.get(pid) ?? p.comm;
    const group = classify(pid, p.comm);
    groups[group] += ms;
    const role = roles.get(pid);
    if (role && hostNames.includes(role)) hosts[role] = (hosts[role] ?? 0) + ms;
    top.push({ pid, group, what: role && role !== "app" ? role : args.slice(0, 90), ms });
  }
  groups.wrk += wrkCpuMs;
  if (wrkCpuMs) top.push({ pid: 0, group: "wrk", what: "wrk (CPU from bash times)", ms: wrkCpuMs });
  top.sort((x, y) => y.ms - x.ms);
  return { windowMs: b.t - a.t, groups, hosts, top };
}

// ------------------------------------------------------------------- runs

interface WrkJson {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: {
    mean: number;
    stdev: number;
    min: number;
    max: number;
    p50: number;
    p75: number;
    p90: number;
    p99: number;
    p999: number;
  };
}
interface Run {
  id: string;
  target: "direct" | "nginx-1" | "nginx" | "dn" | "dn-broker";
  path: string;
  conc: number;
  threads: number;
  secs: number;
  wrk: WrkJson | null;
  rps: number;
  cpu: CpuUse;
  raw: string;
}

const runs: Run[] = read("runs.tsv").trim().split("\n").filter(Boolean).map((line) => {
  const [id, target, path, conc, threads, secs, wrkCpu] = line.split("\t");
  const wrk = readJson(`${id}.json`) as WrkJson | null;
  return {
    id,
    target: target as Run["target"],
    path,
    conc: Number(conc),
    threads: Number(threads),
    secs: Number(secs),
    wrk,
    rps: wrk ? wrk.requests / (wrk.duration_us / 1e6) : 0,
    cpu: cpuUse(id, Number(wrkCpu)),
    raw: read(`${id}.txt`),
  };
});
const find = (target: string, path: string, conc: number) =>
  runs.find((r) => r.target === target && r.path === path && r.conc === conc);
const cases: { path: string; conc: number }[] = [];
for (const r of runs) {
  if (!cases.some((c) => c.path === r.path && c.conc === r.conc)) {
    cases.push({ path: r.path, conc: r.conc });
  }
}

// -------------------------------------------------------------- formatting

const label = (path: string) =>
  path === "/"
    ? "`/` (14 B)"
    : path === "/bytes/65536"
    ? "64 KiB"
    : path === "/bytes/1048576"
    ? "1 MiB"
    : path;
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (us: number | undefined) => {
  if (us === undefined) return "–";
  const v = us / 1000;
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
};
const ratio = (x: number, y: number) => (y > 0 && x > 0 ? (x / y).toFixed(2) : "–");
const pct = (x: number) => `${x.toFixed(0)} %`;
const errors = (w: WrkJson | null) => {
  if (!w) return "no result";
  const e = w.errors;
  const parts = [];
  if (e.status) parts.push(`${e.status} non-2xx`);
  if (e.connect + e.read + e.write) parts.push(`${e.connect + e.read + e.write} socket`);
  if (e.timeout) parts.push(`${e.timeout} timeout`);
  return parts.join(", ") || "0";
};
const mib = (kb: number | undefined) => (kb === undefined ? "–" : (kb / 1024).toFixed(0));
/** A markdown table; the first column and those named in LEFT align left, the rest right. */
const LEFT = new Set(["response", "target", "value", "process", "group", "notes", "step"]);
const table = (head: string[], rows: (string | number)[][]) =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((h, i) => (i === 0 || LEFT.has(h) ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

const md: string[] = [];
const p = (...lines: string[]) => md.push(...lines);

// ------------------------------------------------------------------ header

p(
  "# Benchmarks",
  "",
  `Written by \`${fact("command")}\` on ${fact("date")} (commit ${
    fact("commit")
  }); the whole run took ` +
    `${
      fact("elapsed")
    } s. Every figure below comes from that one run on one machine, loopback only: ` +
    "load generator, proxies, the dn services, RabbitMQ, Redis and the app containers all share the same cores, " +
    "so the numbers compare the three paths with each other, not with other machines.",
  "",
  table(["fact", "value"], [
    ["CPU", `${fact("nproc")} × ${fact("cpu")}`],
    ["memory", fact("memory")],
    ["kernel / OS", `${fact("kernel")} / ${fact("os")}`],
    ["deno", fact("deno")],
    ["docker engine", fact("docker")],
    ["RabbitMQ", fact("rabbitmq")],
    ["Redis", fact("redis")],
    ["nginx", `${fact("nginx")}, worker_processes ${fact("nginx_workers")}`],
    ["wrk", fact("wrk")],
    ["load average at start", fact("loadavg")],
    ["`deno test` processes running at start", fact("concurrent")],
    ["dn gateway process running since", fact("services_since")],
  ]),
  "",
  "## What is measured",
  "",
  "The app is `apps/hello-world` (a `Deno.serve` app in a container); five ways to reach it:",
  "",
  `- **direct**: wrk → the app container's bridge IP and port (${fact("direct")}), the address ` +
    "the dn hosts use too, so no path pays Docker's `docker-proxy`. This is the limit: no proxy at all.",
  `- **nginx**: wrk → nginx on 127.0.0.1:8090 → the same three hello-world containers dn serves from ` +
    `(${fact("nginx_upstreams")}, round-robin), so both proxies balance over the same backends. ` +
    "**nginx, 1 container** is the same nginx on 127.0.0.1:8092 in front of the one container " +
    "of **direct** alone. Config written by the script: " +
    `\`worker_processes ${
      fact("nginx_workers")
    }\`, \`access_log off\`, \`proxy_http_version 1.1\`, ` +
    '`proxy_set_header Connection ""`, upstream `keepalive 128`, `keepalive_requests 100000` both sides, ' +
    "`proxy_max_temp_file_size 0` (no disk buffering of large responses), everything else default.",
  `- **dn**: wrk → the dn gateway (${
    fact("gateway")
  }, \`Host: hello-world.dn.local\`) → the hello-world container of one of the three hosts ` +
    "(vaermina, sanguine, meridia), straight to its bridge IP over HTTP keep-alive: the hosts run " +
    'with `requestRoute: "container"` and announce their containers in Redis, and the gateway picks ' +
    "the one with the fewest requests in flight (RabbitMQ only when no route is left). With " +
    '`requestRoute: "host"` the gateway would send an envelope to the host, which forwards it.',
  "- **dn broker path**: the same through a second gateway (127.0.0.1:8091) whose config lacks the " +
    "request token, so every request takes the broker path: gateway → RabbitMQ (`request.hello-world`, " +
    "mandatory publish, direct reply-to) → a host consuming the shared app queue → container, the reply " +
    "back through RabbitMQ; bodies over the inline limit go through Redis. What dn did before the direct path.",
  "",
  `Each cell is one \`wrk --latency -d${
    fact("duration")
  }s --timeout 10s\` run (1 thread for 1 connection, ` +
    "2 threads otherwise), after a 2 s warm-up per target; the targets run one after another for each case. " +
    "Latencies come from wrk's own histogram (a Lua `done` hook writes exact percentiles).",
  "",
);

// ------------------------------------------------------------------ ratios

/** The targets of every cell, in table order. */
const TARGETS = ["direct", "nginx-1", "nginx", "dn", "dn-broker"] as const;

p("## Side by side", "", "### Requests per second", "");
p(table(
  [
    "response",
    "c",
    "direct",
    "nginx, 1 container",
    "nginx",
    "dn",
    "dn broker path",
    "dn / direct",
    "dn / nginx, 1 container",
    "dn / nginx",
    "dn / broker path",
  ],
  cases.map(({ path, conc }) => {
    const [d, n1, n, g, b] = TARGETS.map((t) => find(t, path, conc));
    return [
      label(path),
      conc,
      int(d?.rps ?? 0),
      int(n1?.rps ?? 0),
      int(n?.rps ?? 0),
      int(g?.rps ?? 0),
      int(b?.rps ?? 0),
      ratio(g?.rps ?? 0, d?.rps ?? 0),
      ratio(g?.rps ?? 0, n1?.rps ?? 0),
      ratio(g?.rps ?? 0, n?.rps ?? 0),
      ratio(g?.rps ?? 0, b?.rps ?? 0),
    ];
  }),
));
p("", "### Latency (ms)", "");
p(table(
  [
    "response",
    "c",
    "p50 direct",
    "p50 nginx, 1 container",
    "p50 nginx",
    "p50 dn",
    "p50 dn broker path",
    "dn / direct",
    "dn / nginx",
    "dn − nginx, 1 container",
    "dn − nginx",
    "p99 direct",
    "p99 nginx",
    "p99 dn",
  ],
  cases.map(({ path, conc }) => {
    const [d, n1, n, g, b] = TARGETS.map((t) => find(t, path, conc)?.wrk?.latency_us);
    return [
      label(path),
      conc,
      ms(d?.p50),
      ms(n1?.p50),
      ms(n?.p50),
      ms(g?.p50),
      ms(b?.p50),
      ratio(g?.p50 ?? 0, d?.p50 ?? 0),
      ratio(g?.p50 ?? 0, n?.p50 ?? 0),
      g && n1 ? ((g.p50 - n1.p50) / 1000).toFixed(2) : "–",
      g && n ? ((g.p50 - n.p50) / 1000).toFixed(2) : "–",
      ms(d?.p99),
      ms(n?.p99),
      ms(g?.p99),
    ];
  }),
));

p("", "### Every wrk run", "");
p(table(
  [
    "target",
    "response",
    "c",
    "threads",
    "requests",
    "req/s",
    "MB/s",
    "mean",
    "p50",
    "p75",
    "p90",
    "p99",
    "p99.9",
    "max",
    "errors",
  ],
  runs.map((r) => {
    const w = r.wrk, l = w?.latency_us;
    return [
      r.target,
      label(r.path),
      r.conc,
      r.threads,
      w ? int(w.requests) : "–",
      int(r.rps),
      w ? (w.bytes / (w.duration_us / 1e6) / 1e6).toFixed(1) : "–",
      ms(l?.mean),
      ms(l?.p50),
      ms(l?.p75),
      ms(l?.p90),
      ms(l?.p99),
      ms(l?.p999),
      ms(l?.max),
      errors(w),
    ];
  }),
));
p(
  "",
  "Latencies in ms. errors: non-2xx answers, socket errors (connect/read/write) and wrk timeouts.",
  "",
);

// --------------------------------------------------------------------- CPU

p(
  "## CPU per request",
  "",
  "CPU time (utime + stime from `/proc/<pid>/stat`, all threads) each group of processes used during the run, " +
    "divided by the requests wrk completed, in µs per request. `dn services` = gateway + hosts + control + " +
    "RabbitMQ (`beam.smp`). `app` = the hello-world containers' processes (docker-init, deno); `wrk` from bash `times`; " +
    "`other` = everything else on the machine (e.g. other people's test runs, the sampling itself). " +
    `busy = all CPU used / (window × ${nproc} cores).`,
  "",
);
const cpuGroups: readonly Group[] = GROUPS;
p(table(
  ["response", "c", "target", "req/s", "dn services", ...cpuGroups, "total", "busy"],
  runs.map((r) => {
    const n = r.wrk?.requests ?? 0;
    const us = (x: number) => (n ? ((x * 1000) / n).toFixed(0) : "–");
    const g = r.cpu.groups;
    const total = GROUPS.reduce((s, k) => s + g[k], 0);
    const dnServices = g.gateway + g.hosts + g.control + g.rabbitmq;
    return [
      label(r.path),
      r.conc,
      r.target,
      int(r.rps),
      r.target.startsWith("dn") ? `**${us(dnServices)}**` : "–",
      ...cpuGroups.map((k) => (g[k] > 0 ? us(g[k]) : "·")),
      us(total),
      pct((100 * total) / (r.cpu.windowMs * nproc)),
    ];
  }),
));

const idle = cpuUse("idle");
p(
  "",
  `Idle (no load, ${(idle.windowMs / 1000).toFixed(1)} s): ` +
    GROUPS.filter((g) => idle.groups[g] > 0).map((g) =>
      `${g} ${((100 * idle.groups[g]) / idle.windowMs).toFixed(1)} %`
    ).join(", ") + " of one core.",
  "",
);

// ------------------------------------------------------------------ memory

function rssSamples(name: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const line of read(name).split("\n")) {
    const [, role, kb] = line.split(" ");
    if (!kb) continue;
    m.set(role, [...(m.get(role) ?? []), Number(kb)]);
  }
  return m;
}
const idleRss = rssSamples("idle.rss"), afterRss = rssSamples("after.rss");
const loadRss = (pred: (r: Run) => boolean) => {
  const m = new Map<string, number>();
  for (const r of runs.filter(pred)) {
    for (const [role, kbs] of rssSamples(`${r.id}.rss`)) {
      m.set(role, Math.max(m.get(role) ?? 0, ...kbs));
    }
  }
  return m;
};
const smallLoad = loadRss((r) => r.target === "dn" && r.path !== "/bytes/1048576");
const bigLoad = loadRss((r) => r.target === "dn" && r.path === "/bytes/1048576");
const last = (m: Map<string, number[]>, k: string) => m.get(k)?.at(-1);
p(
  "## Memory (VmRSS, MiB)",
  "",
  "From `/proc/<pid>/status` every second: idle before any load, the maximum while wrk ran through dn " +
    "(small and 64 KiB responses; 1 MiB responses), and idle again right after the last wrk run.",
  "",
  table(
    ["process", "idle", "max under load (/, 64 KiB)", "max under load (1 MiB)", "after load"],
    ["gateway", "control", ...hostNames, "rabbitmq", "redis"].map((role) => [
      role === "rabbitmq"
        ? "rabbitmq (beam.smp)"
        : hostNames.includes(role)
        ? `host ${role}`
        : role,
      mib(last(idleRss, role)),
      mib(smallLoad.get(role)),
      mib(bigLoad.get(role)),
      mib(last(afterRss, role)),
    ]),
  ),
  "",
);

// ------------------------------------------------------- deploy and update

const deploy = readJson("deploy.json"),
  update = readJson("update.json"),
  remove = readJson("remove.json");
const sec = (
  v: number | null | undefined,
) => (v === null || v === undefined ? "–" : `${(v / 1000).toFixed(1)} s`);
p("## Deploy, update, remove", "");
if (deploy && update) {
  p(
    "On a copy of hello-world named `bench-hello` (hostname `bench-hello.dn.local`), with the image layers " +
      "cached: an untimed `dn build` and `dn push` of the same code ran first, so the build cache is warm and " +
      "the registry has the layers; times from the start of the CLI command. The update adds a " +
      "route `/bench-marker` answering `<host> v2` (v1 answers 404 there); four pollers ask for it every 10 ms " +
      "through the gateway while `dn update` runs.",
    "",
    table(["step", "CLI returned", "first 200 / first new answer", "all 3 hosts", "notes"], [
      [
        "`dn run` (build, push, create, start)",
        `${sec(deploy.cliMs)} (exit ${deploy.cliExit})`,
        sec(deploy.first200Ms),
        sec(deploy.allHostsMs),
        `polls: ${Object.entries(deploy.statuses).map(([k, v]) => `${v}× ${k}`).join(", ")}`,
      ],
      [
        "`dn update` (build, push, v2 rollout)",
        `${sec(update.cliMs)} (exit ${update.cliExit})`,
        sec(update.firstNewMs),
        sec(update.allNewMs),
        `last v1 answer at ${
          sec(update.lastOldMs)
        }; ${update.requests} requests, ${update.failed} failed` +
        (update.failed
          ? ` (${update.failures.slice(0, 3).map((f: { what: string }) => f.what).join("; ")})`
          : ""),
      ],
      [
        "`dn remove`",
        sec(remove?.cliMs),
        "–",
        `containers gone: ${sec(remove?.containersGoneMs)}`,
        "",
      ],
    ]),
    "",
  );
} else {
  p("(no result)", "");
}

// ---------------------------------------------------------------- failover

const fo = readJson("failover.json"), restart = readJson("restart.json");
p("## Failover", "");
if (fo) {
  p(
    `${fo.concurrency} keep-alive clients send \`GET /whoami\` through the gateway for ${
      fo.durationMs / 1000
    } s; ` +
      `at ${(fo.killedAtMs / 1000).toFixed(1)} s the script SIGKILLs the host process \`${
        restart?.host ?? "?"
      }\` ` +
      "and `docker kill`s its containers at the same moment, as when its machine dies: its queue " +
      "consumer is gone, its container's bridge IP stops answering, and gateways skip its route " +
      "after the first refused or timed-out connect until the route goes stale.",
    "",
    table(["what", "value"], [
      ["requests", int(fo.requests)],
      [
        "failed (non-200 or error)",
        `${fo.failed}${
          fo.failed
            ? ": " +
              fo.failures.slice(0, 4).map((f: { atMs: number; what: string }) =>
                `${f.what} at +${f.atMs} ms`
              ).join("; ")
            : ""
        }`,
      ],
      ["in flight at the kill", fo.inFlightAtKill],
      [
        "all requests succeed again after",
        `${fo.allSucceedAfterMs} ms (end of the last failed or in-flight request)`,
      ],
      ["slowest request that ended after the kill", `${fo.slowestAfterKillMs} ms`],
      ["req/s before / after", `${fo.rpsBefore} / ${fo.rpsAfter}`],
      ["p50 / p99 before (ms)", `${fo.p50Before} / ${fo.p99Before}`],
      ["p50 / p99 after (ms)", `${fo.p50After} / ${fo.p99After}`],
      ["served before", Object.entries(fo.servedBefore).map(([h, n]) => `${h} ${n}`).join(", ")],
      ["served after", Object.entries(fo.servedAfter).map(([h, n]) => `${h} ${n}`).join(", ")],
      [
        "restart (like scripts/up)",
        restart
          ? `${restart.host}: AMQP connected after ${restart.connectedMs} ms, serving through the gateway after ${
            restart.servingMs ?? "–"
          } ms`
          : "–",
      ],
    ]),
    "",
    "Requests per 500 ms around the kill (ok/failed): " +
      fo.bins.map((b: { fromMs: number; ok: number; failed: number }) =>
        `${b.fromMs >= 0 ? "+" : ""}${b.fromMs}: ${b.ok}/${b.failed}`
      ).join(", "),
    "",
  );
} else {
  p("(no result)", "");
}

// --------------------------------------------------------- what limits it

const small = runs.filter((r) => r.path === "/");
const topConc = Math.max(...small.map((r) => r.conc));
const hot = find("dn", "/", topConc),
  ngx = find("nginx", "/", topConc),
  dir0 = find("direct", "/", topConc);
p("## What limits it", "");
if (hot && ngx && dir0) {
  const share = (r: Run, g: Group) => (100 * r.cpu.groups[g]) / (r.cpu.windowMs * nproc);
  const total = (r: Run) => GROUPS.reduce((s, g) => s + r.cpu.groups[g], 0);
  const busy = (r: Run) => (100 * total(r)) / (r.cpu.windowMs * nproc);
  const perReq = (r: Run, gs: Group[]) =>
    gs.reduce((s, g) => s + r.cpu.groups[g], 0) * 1000 / (r.wrk?.requests || 1);
  const ranked = GROUPS.filter((g) => hot.cpu.groups[g] > 0).sort((a, b) =>
    hot.cpu.groups[b] - hot.cpu.groups[a]
  );
  const hostSplit = Object.entries(hot.cpu.hosts).map(([h, v]) =>
    `${h} ${((100 * v) / hot.cpu.windowMs).toFixed(0)} %`
  ).join(", ");
  p(
    `During the dn run with small responses at c=${topConc} the machine was ${
      pct(busy(hot))
    } busy ` +
      `(all ${nproc} cores). CPU split (share of the ${nproc} cores): ` +
      ranked.map((g) => `${g} ${pct(share(hot, g))}`).join(", ") +
      `. Per host, as a share of one core: ${hostSplit}.`,
    "",
    `Per small request dn burns ${
      perReq(hot, ["gateway", "hosts", "control", "rabbitmq"]).toFixed(0)
    } µs in its own ` +
      `services (gateway ${perReq(hot, ["gateway"]).toFixed(0)}, hosts ${
        perReq(hot, ["hosts"]).toFixed(0)
      }, ` +
      `RabbitMQ ${perReq(hot, ["rabbitmq"]).toFixed(0)}, control ${
        perReq(hot, ["control"]).toFixed(0)
      }), plus ` +
      `${perReq(hot, ["app", "docker-proxy"]).toFixed(0)} µs in the app; nginx needs ` +
      `${perReq(ngx, ["nginx"]).toFixed(0)} µs of its own per request, and the app behind it ` +
      `${
        perReq(ngx, ["app", "docker-proxy"]).toFixed(0)
      } µs. Total machine CPU per request: direct ` +
      `${perReq(dir0, [...GROUPS]).toFixed(0)} µs, nginx ${
        perReq(ngx, [...GROUPS]).toFixed(0)
      } µs, dn ` +
      `${perReq(hot, [...GROUPS]).toFixed(0)} µs.`,
    "",
    "With everything on " + nproc +
      " cores the benchmark is CPU-bound: once the cores are busy, requests/s is " +
      "roughly (cores × 1 s) / (CPU per request), so each path's throughput follows its total CPU per request " +
      "above, and latency at a concurrency level follows from throughput (c / req/s) plus queueing. " +
      "With container routes a dn request crosses as many processes as an nginx one (wrk → gateway → " +
      "container and back), so the gap is the gateway's own cost per request: a Deno process (hyper's " +
      "HTTP server, then JavaScript: Host and limit checks, the route pick, an HTTP/1.1 write and read to " +
      "the container over a kept-alive connection, promises) against nginx's event-driven C. On this VM " +
      "each send between processes costs far more in the kernel than in user space (the gateway's " +
      "profile spends about half its time in `send`), and one gateway process runs its JavaScript on " +
      "one thread, so it can use at most one core. The broker path (RabbitMQ between gateway and hosts, " +
      "kept as the fallback) adds two broker-routed messages, an ack and the host's hop per request. " +
      "Large bodies are copied once more in the gateway than in nginx (read whole, then written).",
    "",
  );
  const others = hot.cpu.top.filter((t) => t.group === "other").slice(0, 3);
  const otherShare = share(hot, "other");
  if (otherShare > 5) {
    p(
      `Note: ${
        pct(otherShare)
      } of the machine went to processes outside this benchmark during that run (` +
        others.map((t) => `${t.what.slice(0, 50)}: ${(t.ms / 1000).toFixed(1)} s`).join("; ") +
        "), which lowers every figure measured at the same time.",
      "",
    );
  }
  p(
    `Busiest processes during that run (CPU seconds in the ${
      (hot.cpu.windowMs / 1000).toFixed(1)
    } s window):`,
    "",
    table(
      ["process", "group", "CPU s", "share of one core"],
      hot.cpu.top.slice(0, 12).map((t) => [
        "`" + t.what.replaceAll("|", "\\|").slice(0, 70) + "`",
        t.group,
        (t.ms / 1000).toFixed(2),
        pct((100 * t.ms) / hot.cpu.windowMs),
      ]),
    ),
    "",
  );
  const top = read(`${hot.id}.top`).trim();
  if (top) p("`top -b` in the middle of that run:", "", "```", top, "```", "");
}

// --------------------------------------------------------------------- raw

p("## Raw wrk output", "", "<details><summary>every run</summary>", "");
for (const r of runs) {
  p(`**${r.target} ${r.path} c=${r.conc}**`, "", "```", r.raw.trim(), "```", "");
}
p("</details>", "");

// Sections written by their own runs (--machines, --streaming, scripts/bench-https) follow the
// raw output: kept as they were.
let previous = "";
try {
  previous = Deno.readTextFileSync(out);
} catch {
  // no report yet
}
const rawAt = previous.indexOf("\n## Raw wrk output");
const rawEnd = rawAt === -1 ? -1 : previous.indexOf("</details>", rawAt);
const others = rawEnd === -1 ? "" : previous.slice(rawEnd + "</details>".length).trim();
if (others) p(others, "");

Deno.writeTextFileSync(out, md.join("\n"));
