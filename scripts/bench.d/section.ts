/**
 * What the bench scripts that run on their own test network share: the
 * container route an app's host announced, an nginx of their own, and
 * writing one section of BENCHMARKS.md in place.
 *
 * @module
 */

import { Logger } from "../../lib/log.ts";
import { connectRedis, redisReady } from "../../lib/redis.ts";
import { type Endpoint, RouteStore } from "../../lib/routes.ts";
import { freePort, infraConfig, type TestNetwork } from "../../tests/helpers/network.ts";

/** The container `app`'s host announced on `net` (its container route). */
export async function containerOf(net: TestNetwork, app: string): Promise<Endpoint> {
  const redis = connectRedis({
    url: infraConfig("test-host").redisUrl,
    caFile: infraConfig("test-host").redisCaFile,
    log: new Logger("bench", "error"),
    name: "bench-routes",
  });
  await redisReady(redis, 10_000);
  const routes = (await new RouteStore(redis, net.prefix).load()).get(app) ?? [];
  redis.disconnect();
  const container = routes.find((r) => r.container)?.container;
  if (!container) throw new Error("no container route announced");
  return container;
}

/**
 * Writes `section` (starting with its `## heading` line) into `outFile`,
 * replacing that heading's, which ends at the next heading or at another
 * script's `<!-- ... -->` marker.
 */
export async function writeSection(outFile: string, heading: string, section: string) {
  const current = await Deno.readTextFile(outFile).catch(() => "");
  const start = current.indexOf(heading);
  const ends = ["\n## ", "\n<!-- "].map((mark) => current.indexOf(mark, start + 1));
  const found = ends.filter((i) => i !== -1);
  const next = start === -1 || found.length === 0 ? -1 : Math.min(...found);
  const text = section.trimEnd() + "\n";
  const updated = start === -1
    ? current.trimEnd() + "\n\n" + text
    : current.slice(0, start) + text + (next === -1 ? "" : "\n" + current.slice(next + 1));
  await Deno.writeTextFile(outFile, updated);
}

/** A running nginx: its port, the pid of its (first) worker, and how to stop it. */
export interface Nginx {
  port: number;
  pid: number;
  stop(): void;
}

/**
 * Starts `nginxBin` in a temp dir on a free port with the config `conf`
 * makes of that dir and port.
 */
export async function startNginx(
  nginxBin: string,
  conf: (dir: string, port: number) => string,
): Promise<Nginx> {
  const dir = await Deno.makeTempDir({ prefix: "dn-bench-nginx-" });
  const port = freePort();
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf(dir, port));
  const child = new Deno.Command(nginxBin, {
    args: ["-c", `${dir}/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await new Promise((r) => setTimeout(r, 500));
  // The worker moves the bytes: watch it (the master's child).
  const children = await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`);
  const worker = Number(children.trim().split(/\s+/)[0]) || child.pid;
  return {
    port,
    pid: worker,
    stop: () => {
      child.kill("SIGTERM");
      Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
