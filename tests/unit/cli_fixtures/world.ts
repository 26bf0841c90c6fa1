/**
 * A fake outside world for CLI tests: an in-memory control API that follows
 * the contract (behind a fake fetch), a registry `/v2/` login endpoint, and a
 * fake Docker engine. Commands run through `runCli` exactly as from a shell.
 *
 * @module
 */

import {
  APP_DEFAULTS,
  type AppRecord,
  type ContainerReport,
  type HostReport,
  publicApp,
} from "../../../lib/apps.ts";
import { runCli } from "../../../cli/cli.ts";
import { SETTINGS } from "../../../control/api_fields.ts";
import type { Deps } from "../../../cli/context.ts";
import type { StatusReport } from "../../../cli/control_client.ts";
import type { ImageBackend, LocalImage, RegistryAuth } from "../../../cli/image_backend.ts";

/** Directory of the hello-world fixture app. */
export const APP_DIR = new URL("./hello-world", import.meta.url).pathname;
/** The token the fake control accepts. */
export const TOKEN = "s3cret-token-value";
/** The registry password the fake registry accepts. */
export const PASSWORD = "pa55word-value";
/** Fixed "now" of every test run. */
export const NOW = new Date("2024-05-01T12:00:00.000Z");

/** Result of one CLI run. */
export interface RunResult {
  code: number;
  out: string[];
  err: string[];
}

/** A fake Docker engine. */
export class FakeEngine implements ImageBackend {
  images = new Map<string, LocalImage>();
  builds: string[] = [];
  pushes: { repo: string; tag: string; auth: RegistryAuth }[] = [];
  failBuild?: string;
  failPush?: string;
  #n = 0;

  build(dir: string, tag: string, onLine: (line: string) => void): Promise<{ imageId: string }> {
    this.builds.push(tag);
    onLine("Sending build context to Docker daemon  2.048kB");
    onLine("Step 1/1 : FROM scratch\n");
    if (this.failBuild) return Promise.reject(new Error(this.failBuild));
    const imageId = `sha256:${String(++this.#n).repeat(64).slice(0, 64)}`;
    onLine(` ---> ${imageId.slice(7, 19)}\n`);
    onLine(`Successfully built ${imageId.slice(7, 19)}\nSuccessfully tagged ${tag}\n`);
    this.images.set(tag, { id: imageId, repoDigests: [] });
    if (!dir.endsWith("hello-world")) throw new Error(`unexpected build context ${dir}`);
    return Promise.resolve({ imageId });
  }

  push(
    repo: string,
    tag: string,
    auth: RegistryAuth,
    onLine: (line: string) => void,
    onBytes?: (layer: string, current: number, total: number) => void,
  ): Promise<{ digest: string }> {
    this.pushes.push({ repo, tag, auth });
    onLine(`The push refers to repository [${repo}]`);
    if (this.failPush) return Promise.reject(new Error(this.failPush));
    onBytes?.("cc33bc1d2d56", 1_500_000, 4_000_000);
    onLine("cc33bc1d2d56: Layer already exists");
    const digest = `sha256:${"d1".repeat(32)}`;
    onLine(`${tag}: digest: ${digest} size: 528`);
    return Promise.resolve({ digest });
  }

  remove(ref: string): Promise<boolean> {
    return Promise.resolve(this.images.delete(ref));
  }

  tag(source: string, repo: string, tag: string): Promise<void> {
    const image = this.images.get(source);
    if (!image) return Promise.reject(new Error(`no such image: ${source}`));
    this.images.set(`${repo}:${tag}`, image);
    return Promise.resolve();
  }

  inspect(ref: string): Promise<LocalImage | null> {
    return Promise.resolve(this.images.get(ref) ?? null);
  }
}

/** An in-memory control, registry and engine, and a way to run `dn`. */
export class World {
  apps = new Map<string, AppRecord>();
  hosts: Omit<HostReport, "containers">[] = [
    { host: "vaermina", latencyMs: 4 },
    { host: "meridia", latencyMs: 3.4 },
  ];
  engine = new FakeEngine();
  requests: { method: string; path: string; body?: unknown }[] = [];
  controlDown = false;
  /** Standard input of the next runs (`dn env set KEY=-`); none when undefined. */
  stdin?: string;
  registry = "127.0.0.1:5055";
  /** The registry's tags of each repository, with their digests. */
  registryTags = new Map<string, Map<string, string>>();
  /** Manifests deleted from the registry (`repo@digest`). */
  registryDeletes: string[] = [];
  /** Containers hosts are still removing when control answers a removal. */
  removing: Record<string, number> = {};
  /** Progress lines shown, when the runs are on a terminal; undefined: not a terminal. */
  progress?: string[];
  /** Hosts that do not serve: what their container and report say instead. */
  broken = new Map<
    string,
    { container?: Partial<ContainerReport>; report?: Partial<HostReport> }
  >();
  env: Record<string, string | undefined> = {
    DN_CONTROL_URL: "http://127.0.0.1:7070",
    DN_TOKEN: TOKEN,
    DN_REGISTRY: "127.0.0.1:5055",
    DN_REGISTRY_USER: "dn",
    DN_REGISTRY_PASSWORD: PASSWORD,
    HOME: "/nonexistent-home",
    DN_STATE_DIR: "/nonexistent-state",
  };

  /** Adds an app as control would have it. */
  addApp(over: Partial<AppRecord> & { name: string }): AppRecord {
    const app: AppRecord = {
      hostname: `${over.name}.dn.local`,
      port: 80,
      status: "created",
      version: 1,
      image: `${this.registry}/${over.name}:v${over.version ?? 1}`,
      digest: "",
      createdAt: new Date(NOW.getTime() - 30 * 60_000).toISOString(),
      updatedAt: NOW.toISOString(),
      ...APP_DEFAULTS,
      latestVersion: over.version ?? 1,
      ...over,
    };
    this.apps.set(app.name, app);
    return app;
  }

  /** Runs `dn argv` with the fake world; `cwd` defaults to the fixture app. */
  async run(argv: string[], cwd = APP_DIR): Promise<RunResult> {
    const out: string[] = [];
    const err: string[] = [];
    const deps: Deps = {
      env: this.env,
      cwd,
      now: () => NOW,
      io: {
        out: (l) => out.push(...l.split("\n")),
        err: (l) => err.push(...l.split("\n")),
        progress: this.progress && ((text) => this.progress!.push(text)),
      },
      fetch: (input, init) => this.#fetch(input, init),
      images: () => this.engine,
      readStdin: this.stdin === undefined ? undefined : () => Promise.resolve(this.stdin!),
    };
    const code = await runCli(argv, deps);
    return { code, out, err };
  }

  #fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    const method = init?.method ?? "GET";
    if (url.host === this.registry) {
      return Promise.resolve(this.#registry(url, headers, method));
    }
    if (this.controlDown || url.host !== "127.0.0.1:7070") {
      return Promise.reject(new TypeError("error sending request: Connection refused"));
    }
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    this.requests.push({ method, path: url.pathname, body });
    if (headers.get("authorization") !== `Bearer ${TOKEN}`) {
      return Promise.resolve(json(401, { error: "invalid token" }));
    }
    return Promise.resolve(this.#control(method, url.pathname, body));
  }

  #registry(url: URL, headers: Headers, method: string): Response {
    const expected = "Basic " + btoa(`dn:${PASSWORD}`);
    const repo = /^\/v2\/([a-z0-9-]+)\/(tags\/list|manifests\/(.+))$/.exec(url.pathname);
    if (url.protocol === "http:" && repo && headers.get("authorization") === expected) {
      return this.#manifests(repo[1], repo[3], method);
    }
    if (url.protocol !== "http:" || url.pathname !== "/v2/") {
      return new Response(null, { status: 404 });
    }
    if (headers.get("authorization") === expected) return json(200, {});
    return new Response("{}", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="Registry Realm"' },
    });
  }

  /** The registry's tags list and manifests of `repo` (`registryTags`). */
  #manifests(repo: string, ref: string | undefined, method: string): Response {
    const tags = this.registryTags.get(repo);
    if (!tags) return json(404, { errors: [{ code: "NAME_UNKNOWN" }] });
    if (ref === undefined) return json(200, { name: repo, tags: [...tags.keys()] });
    if (method === "HEAD" && tags.has(ref)) {
      return new Response(null, { headers: { "docker-content-digest": tags.get(ref)! } });
    }
    if (method === "DELETE") {
      this.registryDeletes.push(`${repo}@${ref}`);
      for (const [tag, digest] of tags) if (digest === ref) tags.delete(tag);
      return new Response(null, { status: 202 });
    }
    return new Response(null, { status: 404 });
  }

  #control(method: string, path: string, body: Record<string, unknown>): Response {
    if (path === "/v1/apps" && method === "GET") {
      return json(200, { apps: [...this.apps.values()].map(publicApp) });
    }
    if (path === "/v1/apps" && method === "POST") {
      const { name, hostname, port, digest } = body as Record<string, string & number>;
      if (this.apps.has(name)) return json(409, { error: `${name} already exists` });
      if ([...this.apps.values()].some((a) => a.hostname === hostname)) {
        return json(409, { error: `hostname ${hostname} is taken` });
      }
      const app = this.addApp({
        name,
        hostname,
        port,
        digest,
        createdAt: NOW.toISOString(),
        ...settingsOf(body),
      });
      return json(201, { app: publicApp(this.#place(app)) });
    }
    const m = /^\/v1\/apps\/([^/]+)(?:\/(start|stop|update|status|rollback|env|logs))?$/.exec(path);
    if (!m) return json(404, { error: "no such route" });
    const [, name, action] = m;
    const app = this.apps.get(name);
    if (!app) return json(404, { error: `${name} not found` });
    if (!action && method === "GET") return json(200, { app: publicApp(app) });
    if (!action && method === "DELETE") {
      this.apps.delete(name);
      return json(200, { app: publicApp(app), removing: this.removing });
    }
    if (action === "start" || action === "stop") {
      app.status = action === "start" ? "running" : "stopped";
      return json(200, { app: publicApp(this.#place(app)) });
    }
    if (action === "update") {
      if (body.version !== app.latestVersion + 1) {
        return json(409, {
          error: `${name} has v${app.latestVersion}; update must be to v${app.latestVersion + 1}`,
        });
      }
      app.version = app.latestVersion = body.version as number;
      app.digest = body.digest as string;
      if (typeof body.hostname === "string") app.hostname = body.hostname;
      if (typeof body.port === "number") app.port = body.port;
      Object.assign(app, settingsOf(body));
      return json(200, { app: publicApp(this.#place(app)) });
    }
    if (action === "rollback" && method === "POST") {
      const version = (body?.version as number | undefined) ?? app.version - 1;
      if (version < 1 || version > app.latestVersion || version === app.version) {
        return json(409, { error: `${name} runs v${app.version}; no rollback to v${version}` });
      }
      app.version = version;
      app.digest = "";
      return json(200, { app: publicApp(app) });
    }
    if (action === "env" && method === "GET") {
      return json(200, { keys: Object.keys(app.env).sort() });
    }
    if (action === "env" && method === "POST") {
      const next = { ...app.env, ...(body.set as Record<string, string> | undefined) };
      for (const key of (body.unset as string[] | undefined) ?? []) delete next[key];
      app.env = next;
      app.revision++;
      return json(200, { keys: Object.keys(next).sort(), revision: app.revision });
    }
    if (action === "logs" && method === "GET") {
      const lines = this.hosts.map(({ host }) =>
        JSON.stringify({ host, time: NOW.toISOString(), stream: "stdout", line: name, version: 1 })
      );
      return new Response(lines.join("\n") + "\n", {
        headers: { "content-type": "application/x-ndjson" },
      });
    }
    if (action === "status") {
      const running = app.status === "running";
      const placed = app.placement.length === 0
        ? this.hosts
        : this.hosts.filter((h) => app.placement.includes(h.host));
      const report: StatusReport = {
        app: publicApp(app),
        hosts: placed.map((h) => ({
          ...h,
          containers: app.status === "created" ? [] : [{
            id: `${h.host}-c`,
            imageId: "sha256:6f0d8b9aefff0000000000000000000000000000000000000000000000000000",
            version: app.version,
            revision: app.revision,
            digest: app.digest,
            serving: running,
            state: running ? "running" : "exited",
            exitCode: 0,
            createdAt: new Date(NOW.getTime() - 20_000).toISOString(),
            startedAt: new Date(NOW.getTime() - 12_000).toISOString(),
            finishedAt: running ? "" : new Date(NOW.getTime() - 15_000).toISOString(),
            ...this.broken.get(h.host)?.container,
          }],
          ...this.broken.get(h.host)?.report,
        })),
      };
      return json(200, report);
    }
    return json(404, { error: "no such route" });
  }

  /** Places an app with replicas on the first live hosts by name, as control would. */
  #place(app: AppRecord): AppRecord {
    app.placement = app.replicas === 0
      ? []
      : this.hosts.map((h) => h.host).sort().slice(0, app.replicas);
    return app;
  }
}

/** The settings fields of a create or update body. */
function settingsOf(body: Record<string, unknown>): Partial<AppRecord> {
  const out: Partial<AppRecord> = {};
  for (const key of SETTINGS) {
    if (body[key] !== undefined) (out as Record<string, unknown>)[key] = body[key];
  }
  return out;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
