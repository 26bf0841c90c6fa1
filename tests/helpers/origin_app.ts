/**
 * A tiny app whose every answer names its origin, for the identity tests:
 * `GET /` answers `<origin> <APP_VERSION> <DN_HOST>`, where `origin` is
 * baked into the image, so a test can trace each answer to the code that
 * gave it; `POST /crash` makes it exit (code 9) as a crashing app does. Its
 * `mode` makes it misbehave the ways deployed apps do.
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import { sleep } from "./load.ts";
import type { TestNetwork } from "./network.ts";

/** How the app behaves after it starts. */
export type OriginMode =
  /** Serves until stopped. */
  | "serve"
  /** Exits with code 3 at once, before it listens. */
  | "exit"
  /** Runs and never listens. */
  | "silent"
  /** Serves, then exits with code 4 after 5 s. */
  | "crash-5s"
  /** Serves, then exits with code 5 after 400 ms: with a restart policy, a crash loop. */
  | "crash-loop";

/** What {@link writeOriginApp} writes. */
export interface OriginApp {
  name: string;
  hostname: string;
  /** What every answer starts with. */
  origin: string;
  mode?: OriginMode;
}

/** Writes the app's Dockerfile, main.ts and App.config into `dir`. */
export async function writeOriginApp(dir: string, app: OriginApp): Promise<void> {
  const mode = app.mode ?? "serve";
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    [
      "FROM dn/deno:2.9.6",
      "WORKDIR /app",
      "COPY main.ts .",
      "EXPOSE 8000",
      'CMD ["deno", "run", "--allow-net=0.0.0.0", "--allow-env", "main.ts"]',
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    `const ORIGIN = ${JSON.stringify(app.origin)};
const MODE = ${JSON.stringify(mode)};
if (MODE === "exit") Deno.exit(3);
if (MODE === "silent") setInterval(() => {}, 60_000);
const host = Deno.env.get("DN_HOST") ?? "?";
const version = Deno.env.get("APP_VERSION") ?? "?";
const server = MODE === "silent" ? null : Deno.serve(
  { hostname: "0.0.0.0", port: Number(Deno.env.get("PORT") ?? "8000"), onListen: () => {} },
  (req) => {
    if (req.method === "POST" && new URL(req.url).pathname === "/crash") {
      setTimeout(() => Deno.exit(9), 50);
      return new Response("crashing\\n");
    }
    return new Response(\`\${ORIGIN} \${version} \${host}\\n\`);
  },
);
if (MODE === "crash-5s") setTimeout(() => Deno.exit(4), 5000);
if (MODE === "crash-loop") setTimeout(() => Deno.exit(5), 400);
Deno.addSignalListener("SIGTERM", async () => {
  await server?.shutdown();
  Deno.exit(0);
});
`,
  );
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME ${app.name}\nAPP_HOSTNAME ${app.hostname}\nAPP_PORT 8000\n`,
  );
}

/** A new temporary directory holding the app. */
export async function originApp(app: OriginApp): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `dn-${app.name}-` });
  await writeOriginApp(dir, app);
  return dir;
}

/** What control's status says of an app: its accepted release and each host's containers. */
export interface AppStatus {
  app: { version: number; digest: string; digests: Record<string, string>; createdAt: string };
  hosts: {
    host: string;
    containers: { id: string; digest: string; serving: boolean; state: string; version: number }[];
  }[];
}

/** Control's status of `name`. */
export async function appStatus(net: TestNetwork, name: string): Promise<AppStatus> {
  const res = await net.api("GET", `/v1/apps/${name}/status`);
  assertEquals(res.status, 200, JSON.stringify(res.body));
  return res.body as AppStatus;
}

/**
 * Waits until each of `hosts` has exactly one container of `name`, serving
 * the digest control accepted; returns that digest.
 */
export async function settled(
  net: TestNetwork,
  name: string,
  hosts: string[],
  timeoutMs = 60_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const s = await appStatus(net, name);
    const ok = hosts.every((host) => {
      const report = s.hosts.find((h) => h.host === host);
      return report !== undefined && report.containers.length === 1 &&
        report.containers[0].serving && report.containers[0].digest === s.app.digest;
    });
    if (ok) return s.app.digest;
    last = JSON.stringify(s.hosts.map((h) => [h.host, h.containers]));
    await sleep(500);
  }
  throw new Error(`${name} never settled on its digest: ${last}`);
}

/** `count` GETs of `/` for `hostname`, one after another: `<status> <body>` each. */
export async function answers(net: TestNetwork, hostname: string, count: number) {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await net.gateway(hostname, "/");
    out.push(`${res.status} ${(await res.text()).trim()}`);
  }
  return out;
}
