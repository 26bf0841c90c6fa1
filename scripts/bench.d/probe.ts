/**
 * Timing probes for scripts/bench. Speaks HTTP/1.1 over raw keep-alive TCP
 * connections (fetch would drop the Host header) and prints one JSON object.
 *
 *   probe.ts deploy  --addr A --host H [--hosts a,b,c] [--timeout S] -- CMD...
 *       runs CMD (e.g. `dn run`) and polls GET /whoami through the gateway
 *       every 20 ms: time to the first 200, and until every host answered.
 *   probe.ts update  --addr A --host H --hosts a,b,c --marker PATH [--timeout S] -- CMD...
 *       runs CMD (e.g. `dn update`) with 4 pollers on GET PATH: the old
 *       version answers 404, the new one 200 "<host> v2". Time until every
 *       host answered new, the last old answer, and failed requests.
 *   probe.ts load    --addr A --host H --conc N --duration S --kill-at S --pid P [--containers IDS]
 *       N keep-alive clients GET /whoami as fast as they can; SIGKILLs pid P
 *       and `docker kill`s the comma-separated containers IDS at kill-at
 *       seconds; every request's outcome, summarised.
 */

type Args = Record<string, string> & { cmd?: string[] };

function parseArgs(argv: string[]): { mode: string; args: Args; cmd: string[] } {
  const [mode, ...rest] = argv;
  const args: Args = {};
  let cmd: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--") {
      cmd = rest.slice(i + 1);
      break;
    }
    if (!rest[i].startsWith("--")) throw new Error(`unexpected argument ${rest[i]}`);
    args[rest[i].slice(2)] = rest[++i];
  }
  return { mode, args, cmd };
}

interface Reply {
  status: number;
  body: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function indexOf(buf: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= buf.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}
const CRLF = enc.encode("\r\n");
const CRLFCRLF = enc.encode("\r\n\r\n");

/** One keep-alive HTTP/1.1 connection; reconnects after an error. */
class Client {
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(0);
  constructor(readonly hostname: string, readonly port: number, readonly hostHeader: string) {}

  close() {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = null;
    this.#buf = new Uint8Array(0);
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn!.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  async #take(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) await this.#fill();
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  async #line(): Promise<string> {
    let i;
    while ((i = indexOf(this.#buf, CRLF)) < 0) await this.#fill();
    const line = dec.decode(this.#buf.subarray(0, i));
    this.#buf = this.#buf.slice(i + 2);
    return line;
  }

  /** GET path; rejects on a network error or after timeoutMs. */
  async get(path: string, timeoutMs = 10_000): Promise<Reply> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      if (!this.#conn) {
        this.#conn = await Deno.connect({ hostname: this.hostname, port: this.port });
        this.#conn.setNoDelay(true);
      }
      const conn = this.#conn;
      await conn.write(enc.encode(`GET ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n\r\n`));
      let i;
      while ((i = indexOf(this.#buf, CRLFCRLF)) < 0) await this.#fill();
      const head = dec.decode(this.#buf.subarray(0, i)).split("\r\n");
      this.#buf = this.#buf.slice(i + 4);
      const status = Number(head[0].split(" ")[1]);
      const headers = new Map<string, string>();
      for (const h of head.slice(1)) {
        const c = h.indexOf(":");
        headers.set(h.slice(0, c).trim().toLowerCase(), h.slice(c + 1).trim());
      }
      let body: Uint8Array;
      if (headers.get("transfer-encoding")?.includes("chunked")) {
        const parts: Uint8Array[] = [];
        for (;;) {
          const size = parseInt(await this.#line(), 16);
          if (size === 0) {
            while ((await this.#line()) !== "");
            break;
          }
          parts.push(await this.#take(size));
          await this.#take(2);
        }
        body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) body.set(p, (o += p.length) - p.length);
      } else {
        body = await this.#take(Number(headers.get("content-length") ?? "0"));
      }
      if (headers.get("connection")?.toLowerCase() === "close") this.close();
      return { status, body: dec.decode(body) };
    } catch (e) {
      this.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function client(args: Args): Client {
  const [hostname, port] = args.addr.split(":");
  return new Client(hostname, Number(port), args.host);
}

function spawn(cmd: string[]): { done: Promise<{ code: number; ms: number }>; t0: number } {
  const t0 = performance.now();
  // The command's output goes to stderr: stdout carries only the JSON result.
  const child = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "inherit" })
    .spawn();
  const copied = child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true });
  return {
    t0,
    done: child.status.then(async (s) => {
      const ms = performance.now() - t0;
      await copied;
      return { code: s.code, ms };
    }),
  };
}

const round = (ms: number | null) => ms === null ? null : Math.round(ms);

async function deploy(args: Args, cmd: string[]) {
  const expected = (args.hosts ?? "").split(",").filter(Boolean);
  const timeoutMs = Number(args.timeout ?? "120") * 1000;
  const c = client(args);
  const { t0, done } = spawn(cmd);
  let cli: { code: number; ms: number } | null = null;
  done.then((r) => (cli = r));
  let first200: number | null = null;
  const seen = new Map<string, number>();
  const statuses: Record<string, number> = {};
  while (performance.now() - t0 < timeoutMs) {
    let key: string;
    try {
      const r = await c.get("/whoami", 5000);
      key = String(r.status);
      if (r.status === 200) {
        const t = performance.now() - t0;
        first200 ??= t;
        const host = r.body.trim();
        if (!seen.has(host)) seen.set(host, t);
      }
    } catch {
      key = "error";
    }
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (cli && first200 !== null && expected.every((h) => seen.has(h))) break;
    await sleep(20);
  }
  const end = await done;
  c.close();
  return {
    cliExit: end.code,
    cliMs: round(end.ms),
    first200Ms: round(first200),
    allHostsMs: expected.every((h) => seen.has(h)) ? round(Math.max(...seen.values())) : null,
    hostsSeen: Object.fromEntries([...seen].map(([h, t]) => [h, round(t)])),
    statuses,
  };
}

async function update(args: Args, cmd: string[]) {
  const expected = args.hosts.split(",");
  const timeoutMs = Number(args.timeout ?? "150") * 1000;
  const { t0, done } = spawn(cmd);
  let cli: { code: number; ms: number } | null = null;
  done.then((r) => (cli = r));
  const newAt = new Map<string, number>();
  let lastOld: number | null = null, firstNew: number | null = null;
  let requests = 0, old = 0, fresh = 0;
  const failures: { ms: number; what: string }[] = [];
  let stopAt = Infinity;
  const poller = async () => {
    const c = client(args);
    while (performance.now() - t0 < Math.min(timeoutMs, stopAt)) {
      const start = performance.now() - t0;
      try {
        const r = await c.get(args.marker, 10_000);
        requests++;
        const t = performance.now() - t0;
        const m = /^(\S+) v2$/.exec(r.body.trim());
        if (r.status === 200 && m) {
          fresh++;
          firstNew ??= t;
          if (!newAt.has(m[1])) newAt.set(m[1], t);
        } else if (r.status === 404) {
          old++;
          lastOld = Math.max(lastOld ?? 0, start);
        } else {
          failures.push({ ms: Math.round(t), what: `${r.status} ${r.body.trim().slice(0, 60)}` });
        }
      } catch (e) {
        requests++;
        failures.push({ ms: Math.round(performance.now() - t0), what: String(e).slice(0, 80) });
      }
      if (cli && expected.every((h) => newAt.has(h)) && stopAt === Infinity) {
        stopAt = performance.now() - t0 + 2000; // keep polling 2 s for stray old answers
      }
      await sleep(10);
    }
    c.close();
  };
  await Promise.all([poller(), poller(), poller(), poller()]);
  const end = await done;
  return {
    cliExit: end.code,
    cliMs: round(end.ms),
    firstNewMs: round(firstNew),
    allNewMs: expected.every((h) => newAt.has(h)) ? round(Math.max(...newAt.values())) : null,
    newAtMs: Object.fromEntries([...newAt].map(([h, t]) => [h, round(t)])),
    lastOldMs: round(lastOld),
    requests,
    oldAnswers: old,
    newAnswers: fresh,
    failed: failures.length,
    failures: failures.slice(0, 20),
  };
}

async function load(args: Args) {
  const conc = Number(args.conc ?? "8");
  const durationMs = Number(args.duration ?? "14") * 1000;
  const killAtMs = Number(args["kill-at"] ?? "4") * 1000;
  const pid = Number(args.pid);
  const t0 = performance.now();
  const rows: { start: number; end: number; ok: boolean; host: string; what: string }[] = [];
  let killedAt = -1;
  const containers = String(args.containers ?? "").split(",").filter((id) => id !== "");
  setTimeout(() => {
    killedAt = performance.now() - t0;
    Deno.kill(pid, "SIGKILL");
    // Its containers die with it, as when the machine goes.
    if (containers.length > 0) {
      new Deno.Command("docker", { args: ["kill", ...containers], stdout: "null", stderr: "null" })
        .spawn();
    }
  }, killAtMs);
  const worker = async () => {
    const c = client(args);
    while (performance.now() - t0 < durationMs) {
      const start = performance.now() - t0;
      try {
        const r = await c.get("/whoami", 30_000);
        const ok = r.status === 200;
        rows.push({
          start,
          end: performance.now() - t0,
          ok,
          host: ok ? r.body.trim() : "",
          what: ok ? "" : `${r.status} ${r.body.trim().slice(0, 60)}`,
        });
      } catch (e) {
        rows.push({
          start,
          end: performance.now() - t0,
          ok: false,
          host: "",
          what: String(e).slice(0, 80),
        });
        await sleep(5);
      }
    }
    c.close();
  };
  await Promise.all(Array.from({ length: conc }, worker));
  const k = killedAt;
  const before = rows.filter((r) => r.end < k);
  const after = rows.filter((r) => r.start > k);
  const inFlight = rows.filter((r) => r.start <= k && r.end >= k);
  const failed = rows.filter((r) => !r.ok);
  const lastFail = failed.length ? Math.max(...failed.map((r) => r.end)) : null;
  const slowest = rows.filter((r) => r.end >= k).reduce((m, r) => Math.max(m, r.end - r.start), 0);
  // "all succeed again": the end of the last failed request, or of the last
  // request that was in flight at the kill, whichever is later.
  const settled = Math.max(lastFail ?? k, ...inFlight.map((r) => r.end));
  const byHost = (rs: typeof rows) => {
    const m: Record<string, number> = {};
    for (const r of rs) if (r.ok) m[r.host] = (m[r.host] ?? 0) + 1;
    return m;
  };
  const p = (rs: typeof rows, q: number) => {
    const l = rs.map((r) => r.end - r.start).sort((a, b) => a - b);
    return l.length
      ? Math.round(l[Math.min(l.length - 1, Math.floor(q * l.length))] * 10) / 10
      : null;
  };
  const bins: { s: number; ok: number; failed: number }[] = [];
  for (const r of rows) {
    const b = Math.floor((r.end - k) / 500);
    const bin = bins.find((x) => x.s === b) ??
      (bins.push({ s: b, ok: 0, failed: 0 }), bins[bins.length - 1]);
    r.ok ? bin.ok++ : bin.failed++;
  }
  bins.sort((a, b) => a.s - b.s);
  return {
    concurrency: conc,
    durationMs,
    killedAtMs: Math.round(k),
    requests: rows.length,
    failed: failed.length,
    failures: failed.slice(0, 20).map((r) => ({ atMs: Math.round(r.end - k), what: r.what })),
    lastFailureAfterKillMs: lastFail === null ? null : Math.round(lastFail - k),
    inFlightAtKill: inFlight.length,
    allSucceedAfterMs: Math.round(settled - k),
    slowestAfterKillMs: Math.round(slowest),
    rpsBefore: Math.round(before.length / (k / 1000)),
    rpsAfter: Math.round(after.length / ((durationMs - k) / 1000)),
    p50Before: p(before, 0.5),
    p99Before: p(before, 0.99),
    p50After: p(after, 0.5),
    p99After: p(after, 0.99),
    servedBefore: byHost(before),
    servedAfter: byHost(after),
    bins: bins.map((b) => ({ fromMs: b.s * 500, ok: b.ok, failed: b.failed })),
  };
}

const { mode, args, cmd } = parseArgs(Deno.args);
let result;
if (mode === "deploy") result = await deploy(args, cmd);
else if (mode === "update") result = await update(args, cmd);
else if (mode === "load") result = await load(args);
else throw new Error(`unknown mode ${mode}`);
console.log(JSON.stringify(result));
Deno.exit(0);
