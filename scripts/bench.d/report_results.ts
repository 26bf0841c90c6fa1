/**
 * The raw results of one scripts/bench run as report.ts reads them from its
 * WORKDIR: the facts, the roles of the processes, every wrk run with the CPU
 * each group of processes used during it.
 *
 * @module
 */

/** The groups of processes CPU time is counted for, in table order. */
export const GROUPS = [
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
/** One group of {@link GROUPS}. */
export type Group = typeof GROUPS[number];

/** The benchmark network's host services. */
export const hostNames = ["vaermina", "sanguine", "meridia"];

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

/** CPU time each group of processes used between two /proc snapshots. */
export interface CpuUse {
  windowMs: number;
  groups: Record<Group, number>; // CPU ms
  hosts: Record<string, number>;
  top: { pid: number; group: Group; what: string; ms: number }[];
}

/** The summary the wrk Lua `done` hook writes. */
export interface WrkJson {
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
/** One wrk run: its target and case, wrk's summary and the CPU used. */
export interface Run {
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

/** Reads the results of the run whose WORKDIR is `dir`. */
export function loadResults(dir: string) {
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

  const roles = new Map<number, string>();
  for (const line of read("roles.tsv").trim().split("\n")) {
    const [role, pid] = line.split("\t");
    if (pid) roles.set(Number(pid), role);
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
    if (wrkCpuMs) {
      top.push({ pid: 0, group: "wrk", what: "wrk (CPU from bash times)", ms: wrkCpuMs });
    }
    top.sort((x, y) => y.ms - x.ms);
    return { windowMs: b.t - a.t, groups, hosts, top };
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

  return { read, readJson, fact, nproc, runs, find, cases, cpuUse };
}

/** What {@link loadResults} read. */
export type Results = ReturnType<typeof loadResults>;
