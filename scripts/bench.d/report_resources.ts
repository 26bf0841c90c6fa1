/**
 * The resource sections of BENCHMARKS.md: CPU per request, memory, and what
 * limits throughput.
 *
 * @module
 */

import { type Group, GROUPS, hostNames, type Results, type Run } from "./report_results.ts";
import { type Emit, int, label, mib, pct, table } from "./report_format.ts";

/** Writes "CPU per request": each group's CPU per request of every run, and the idle CPU. */
export function cpuSection(results: Results, p: Emit) {
  const { runs, nproc, cpuUse } = results;
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
}

/** Writes "Memory (VmRSS, MiB)": each service idle, under load and after it. */
export function memorySection(results: Results, p: Emit) {
  const { runs, read } = results;
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
}

/** Writes "What limits it": where the CPU went in the busiest dn run. */
export function limitsSection(results: Results, p: Emit) {
  const { runs, find, nproc, read } = results;
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
}
