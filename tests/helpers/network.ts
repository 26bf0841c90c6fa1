/**
 * Starts a real dn network for end-to-end tests: control, gateway and hosts
 * as separate `deno run` processes with the same permission flags as the
 * compiled binaries (from `scripts/permissions.sh`), on the RabbitMQ, Redis,
 * registry and Docker engine that `scripts/infra up` runs (test vhost, Redis
 * db 1, a fresh key prefix per network).
 *
 * @module
 */

import { DockerClient } from "../../lib/docker/mod.ts";
import { tarDirectory } from "../../lib/docker/tar.ts";
import { readDockerignore } from "../../lib/docker/dockerignore.ts";
import type { AppRecord } from "../../lib/apps.ts";
import { Http1Pool } from "../../lib/http1.ts";

/** Repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** Deno binary running the tests. */
export const DENO = Deno.execPath();
/** Where `scripts/infra` keeps state and config. */
export const STATE_DIR = Deno.env.get("DN_STATE_DIR") ?? "/var/lib/dn";

/** Debian's libfaketime (package faketime, installed by scripts/infra). */
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/** Where test services' logs go (one file per service, appended). */
export const LOG_DIR = Deno.env.get("DN_TEST_LOG_DIR") ?? "/tmp/dn-test-logs";
Deno.mkdirSync(LOG_DIR, { recursive: true });

type Role = "control" | "gateway" | "host" | "cli";

const ENTRY: Record<Role, string> = {
  control: "control/main.ts",
  gateway: "gateway/main.ts",
  host: "host/main.ts",
  cli: "cli/main.ts",
};

const permsCache = new Map<string, string[]>();

/**
 * The `deno run` permission flags of `role`, from scripts/permissions.sh
 * (for a host driving another engine than the default, with its socket).
 */
export function permissions(
  role: Role,
  stateDir = STATE_DIR,
  dockerSocket = "/var/run/docker.sock",
): string[] {
  const cached = permsCache.get(`${role} ${stateDir} ${dockerSocket}`);
  if (cached) return cached;
  const name = `PERMS_${role.toUpperCase()}`;
  const out = new Deno.Command("bash", {
    args: ["-c", `source scripts/permissions.sh && printf '%s\\n' "\${${name}[@]}"`],
    cwd: ROOT,
    env: { DN_STATE_DIR: stateDir, DN_DOCKER_SOCKET: dockerSocket },
  }).outputSync();
  if (!out.success) throw new Error(`cannot read ${name}: ${new TextDecoder().decode(out.stderr)}`);
  const flags = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.length > 0);
  permsCache.set(`${role} ${stateDir} ${dockerSocket}`, flags);
  return flags;
}

/** Reads a JSON config file written by scripts/infra. */
export function infraConfig(name: string, stateDir = STATE_DIR): Record<string, string> {
  return JSON.parse(Deno.readTextFileSync(`${stateDir}/config/${name}.json`));
}

/**
 * Ports {@link freePort} picks from: below Linux's ephemeral range (32768-60999),
 * where the kernel puts outgoing connections and `port: 0` listeners, so none of
 * those can take a port between the moment it is picked and the moment the
 * service binds it (a gateway's HTTPS port was once taken that way), and above
 * the fixed ports scripts/infra and scripts/ha give RabbitMQ and Sentinels (25xxx, 26xxx).
 */
const PICKED_PORTS = { first: 27000, last: 32767 };
/** Ports this test process has handed out; each is handed out once. */
const handedOut = new Set<number>();

/** A TCP port free on 127.0.0.1 now, outside the ephemeral range, not handed out before. */
export function freePort(): number {
  const span = PICKED_PORTS.last - PICKED_PORTS.first + 1;
  for (let tries = 0; tries < 200; tries++) {
    const port = PICKED_PORTS.first + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${PICKED_PORTS.first}-${PICKED_PORTS.last} after 200 tries`);
}

/** A running service process. */
export class Service {
  #output: string[] = [];
  /** True once the process has ended. */
  exited = false;
  #done: Promise<Deno.CommandStatus>;

  /** Spawns `role` with extra env. */
  constructor(
    readonly role: Role,
    readonly label: string,
    readonly child: Deno.ChildProcess,
    readonly logFile: string,
  ) {
    this.#done = child.status;
    this.#done.then(() => this.exited = true);
    this.#collect(child.stderr);
    this.#collect(child.stdout);
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const file = this.logFile;
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      Deno.writeTextFileSync(file, chunk, { append: true });
      this.#output.push(chunk);
      if (this.#output.length > 2000) this.#output.splice(0, 1000);
    }
  }

  /** Everything the service logged so far. */
  get output(): string {
    return this.#output.join("");
  }

  /** Sends `signal` and waits for the process to end. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5000);
    await this.#done;
    clearTimeout(timer);
  }

  /** Waits until the service logged a line containing `text`. */
  async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text)) {
      if (Date.now() > deadline) {
        throw new Error(`${this.label} did not log "${text}" in time:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Result of running the CLI. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of a {@link TestNetwork}. */
export interface TestNetworkOptions {
  /**
   * Appended to the config names the services read: `"-ha"` runs them on
   * `test-<role>-ha.json` (scripts/ha's configs).
   */
  configSuffix?: string;
  /** Infra state dir (default: the shared one, `$DN_STATE_DIR` or /var/lib/dn). */
  stateDir?: string;
  /** Extra environment of every service (`DN_*` overrides), e.g. another registry. */
  env?: Record<string, string>;
  /** Extra environment of single hosts, by host name. */
  hostEnv?: Record<string, Record<string, string>>;
  /**
   * Clock offsets of single hosts, by host name, in faketime's form (`"-2m"`,
   * `"+90s"`): the host runs under `faketime`, its wall clock that far off.
   */
  hostClock?: Record<string, string>;
  /**
   * Where a host runs, by host name, when not on this machine's engine: the
   * command prefix that enters its machine, its config file and its engine.
   */
  hostPlace?: (name: string) => HostPlace | undefined;
}

/** A host's machine: see {@link TestNetworkOptions.hostPlace}. */
export interface HostPlace {
  /** Command and arguments the host's `deno run` is appended to (`ip netns exec NAME`). */
  enter: string[];
  /** The host's config file. */
  config: string;
  /** The machine's Docker socket. */
  dockerSocket: string;
}

/** A whole test network. */
export class TestNetwork {
  readonly services = new Map<string, Service>();
  readonly prefix = `dntest-${crypto.randomUUID().slice(0, 8)}:`;
  readonly controlPort = freePort();
  readonly gatewayPort = freePort();
  /** Port of the gateway's HTTPS listener (certificates by SNI). */
  readonly gatewayHttpsPort = freePort();
  /** Port of control's health and metrics listener. */
  readonly controlMetricsPort = freePort();
  /** Port of the gateway's health and metrics listener. */
  readonly gatewayMetricsPort = freePort();
  readonly token = crypto.randomUUID() + crypto.randomUUID();
  readonly docker = new DockerClient();
  readonly #client = new Http1Pool({ maxHeadBytes: 65536, maxBodyBytes: 64 << 20, maxIdle: 32 });
  readonly registry: string;
  readonly #registryUser: string;
  readonly #registryPassword: string;
  /** Infra state dir whose config files the services use. */
  readonly stateDir: string;
  /** The local CA, which control's certificate (and every other) chains to. */
  readonly caFile: string;
  /** Whether control serves HTTPS (its config names a certificate). */
  readonly controlTls: boolean;
  #controlClient: Deno.HttpClient | undefined;

  /** Creates (does not start) a network with the given host names. */
  constructor(readonly hostNames: string[], readonly options: TestNetworkOptions = {}) {
    this.stateDir = options.stateDir ?? STATE_DIR;
    const cli = infraConfig("test-cli", this.stateDir);
    this.registry = cli.registry;
    this.#registryUser = cli.registryUser;
    this.#registryPassword = cli.registryPassword;
    this.caFile = `${this.stateDir}/tls/ca.pem`;
    const control = infraConfig(`test-control${options.configSuffix ?? ""}`, this.stateDir);
    this.controlTls = (control.tlsCertFile ?? "") !== "";
  }

  /** URL of control. */
  get controlUrl(): string {
    return this.controlUrlAt(this.controlPort);
  }

  /** URL of a control of this network listening on `port`. */
  controlUrlAt(port: number): string {
    return `${this.controlTls ? "https" : "http"}://127.0.0.1:${port}`;
  }

  /** fetch of `path` from control (on `port`), trusting the local CA (no token added). */
  controlFetch(path: string, init: RequestInit = {}, port = this.controlPort): Promise<Response> {
    this.#controlClient ??= Deno.createHttpClient({
      caCerts: [Deno.readTextFileSync(this.caFile)],
    });
    return fetch(this.controlUrlAt(port) + path, { ...init, client: this.#controlClient });
  }

  /** A raw connection to control, over TLS verified against the local CA when control serves it. */
  async connectControl(): Promise<Deno.Conn> {
    const address = { hostname: "127.0.0.1", port: this.controlPort };
    if (!this.controlTls) return await Deno.connect(address);
    return await Deno.connectTls({ ...address, caCerts: [await Deno.readTextFile(this.caFile)] });
  }

  /** URL of the gateway. */
  get gatewayUrl(): string {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  #env(): Record<string, string> {
    return {
      DN_REDIS_PREFIX: this.prefix,
      DN_TOKEN: this.token,
      DN_CONTROL_LISTEN: `127.0.0.1:${this.controlPort}`,
      DN_CONTROL_URL: this.controlUrl,
      DN_GATEWAY_LISTEN: `127.0.0.1:${this.gatewayPort}`,
      DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${this.gatewayHttpsPort}`,
      DN_CONTROL_METRICS_LISTEN: `127.0.0.1:${this.controlMetricsPort}`,
      DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${this.gatewayMetricsPort}`,
      DN_GATEWAY_METRICS_URLS: `http://127.0.0.1:${this.gatewayMetricsPort}/metrics`,
      DN_LOG_LEVEL: "debug",
      DN_BODY_TIMEOUT_MS: "5000",
      ...this.options.env,
    };
  }

  /**
   * Spawns a service (on `place`'s machine); `key` names it in {@link
   * services}. With `clock` (a faketime offset) its wall clock is that far
   * off (libfaketime preloaded into the service itself, so a signal reaches
   * it; monotonic time is not moved).
   */
  spawn(
    role: Role,
    key: string,
    args: string[] = [],
    env: Record<string, string> = {},
    clock?: string,
    place?: HostPlace,
  ): Service {
    const config = place?.config ??
      `${this.stateDir}/config/test-${role}${this.options.configSuffix ?? ""}.json`;
    const skewed: Record<string, string> = clock === undefined ? {} : {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME: clock,
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    };
    const perms = permissions(role, this.stateDir, place?.dockerSocket);
    const [command, ...enter] = [...(place?.enter ?? []), DENO];
    const child = new Deno.Command(command, {
      args: [...enter, "run", ...perms, ENTRY[role], "--config", config, ...args],
      cwd: ROOT,
      env: { ...this.#env(), ...skewed, ...env },
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const logFile = `${LOG_DIR}/${this.prefix.slice(0, -1)}-${key}.log`;
    const service = new Service(role, key, child, logFile);
    this.services.set(key, service);
    return service;
  }

  /** Starts a host named `name`. */
  async startHost(name: string): Promise<Service> {
    const { hostEnv, hostClock, hostPlace } = this.options;
    const place = hostPlace?.(name);
    const env = { ...hostEnv?.[name] };
    if (place) env.DN_DOCKER_SOCKET = place.dockerSocket;
    const host = this.spawn("host", name, ["--name", name], env, hostClock?.[name], place);
    await host.waitFor("amqp connected");
    return host;
  }

  /** Starts control, gateway and every host, and waits until each is connected. */
  async start(): Promise<this> {
    const control = this.spawn("control", "control");
    await control.waitFor("amqp connected");
    const gateway = this.spawn("gateway", "gateway");
    await Promise.all([
      gateway.waitFor("amqp connected"),
      ...this.hostNames.map((name) => this.startHost(name)),
    ]);
    await gateway.waitFor("gateway listening");
    return this;
  }

  /** Stops every service and removes the containers of this network's hosts. */
  async stop(): Promise<void> {
    this.#client.close();
    this.#controlClient?.close(); // a second stop() finds none to close
    this.#controlClient = undefined;
    await Promise.all([...this.services.values()].map((s) => s.stop()));
    for (const host of this.hostNames) {
      for (const c of await this.docker.listContainers({ "network.dn.host": host }, true)) {
        await this.docker.removeContainer(c.id, { force: true }).catch(() => {});
      }
    }
  }

  /**
   * Base URL of a service's health and metrics listener (`control`,
   * `gateway`, or a host name; hosts pick a free port and log it).
   */
  async healthUrl(key: string): Promise<string> {
    if (key === "control") return `http://127.0.0.1:${this.controlMetricsPort}`;
    if (key === "gateway") return `http://127.0.0.1:${this.gatewayMetricsPort}`;
    const service = this.services.get(key);
    if (!service) throw new Error(`no service ${key}`);
    const find = async () =>
      /"msg":"health listening","addr":"([^"]+)"/.exec(
        await Deno.readTextFile(service.logFile).catch(() => ""),
      )?.[1];
    let addr = await find();
    if (!addr) {
      await service.waitFor('"health listening"');
      addr = await find();
    }
    if (!addr) throw new Error(`${key} logged no health address`);
    return `http://${addr}`;
  }

  /** Calls control's API with the token. */
  // deno-lint-ignore no-explicit-any -- tests read whatever JSON control answered
  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await this.controlFetch(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /**
   * Sends a request through the gateway (on `port` at `address`, default
   * this network's) for `hostname` (fetch cannot set Host, so this speaks
   * HTTP/1.1 itself) and returns it as a Response.
   */
  async gateway(
    hostname: string,
    path: string,
    init: RequestInit = {},
    port = this.gatewayPort,
    address = "127.0.0.1",
  ): Promise<Response> {
    const headers: [string, string][] = [["host", hostname]];
    for (const [name, value] of new Headers(init.headers)) headers.push([name, value]);
    const body = init.body === undefined || init.body === null
      ? new Uint8Array(0)
      : new Uint8Array(await new Response(init.body).arrayBuffer());
    const res = await this.#client.request(address, port, {
      method: init.method ?? "GET",
      url: path,
      headers,
      body,
    }, 60_000);
    const out = new Headers();
    for (const [name, value] of res.headers) out.append(name, value);
    const empty = [204, 205, 304].includes(res.status) || init.method === "HEAD";
    return new Response(empty ? null : res.body as Uint8Array<ArrayBuffer>, {
      status: res.status,
      headers: out,
    });
  }

  /**
   * Builds `dir` and pushes it as `<registry>/<name>:v<version>-<random>` (a
   * tag of its own, as the CLI does) or as `tag`; returns the digest.
   */
  async buildAndPush(
    dir: string,
    name: string,
    version: number,
    tag = `v${version}-${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
  ): Promise<string> {
    const repo = `${this.registry}/${name}`;
    const ignore = await readDockerignore(dir);
    await this.docker.build(tarDirectory(dir, ignore), { tag: `${repo}:${tag}` }, () => {});
    const { digest } = await this.docker.pushImage(repo, tag, {
      username: this.#registryUser,
      password: this.#registryPassword,
      serverAddress: this.registry,
    }, () => {});
    return digest;
  }

  /** Creates and starts an app from `dir` through control; waits until the gateway serves it. */
  /**
   * Creates and starts an app from `dir` through control (with optional
   * settings such as `replicas` or `timeoutMs`); waits until every host it
   * is placed on runs it and the gateway serves it.
   */
  async deploy(
    dir: string,
    name: string,
    hostname: string,
    port = 8000,
    settings: Record<string, unknown> = {},
  ): Promise<AppRecord> {
    const digest = await this.buildAndPush(dir, name, 1);
    return await this.createAndStart(name, hostname, digest, port, settings);
  }

  /** {@link deploy} of an image pushed already, by its digest. */
  async createAndStart(
    name: string,
    hostname: string,
    digest: string,
    port = 8000,
    settings: Record<string, unknown> = {},
  ): Promise<AppRecord> {
    const created = await this.api("POST", "/v1/apps", {
      name,
      hostname,
      port,
      digest,
      ...settings,
    });
    if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created)}`);
    const started = await this.api("POST", `/v1/apps/${name}/start`);
    if (started.status !== 200) throw new Error(`start failed: ${JSON.stringify(started)}`);
    const app = started.body.app;
    const alive = this.hostNames.filter((h) => this.services.get(h)?.exited === false).length;
    const wanted = Math.min(app.placement.length > 0 ? app.placement.length : alive, alive);
    await this.waitForRunning(name, wanted);
    await this.waitForApp(hostname, (res) => res.status === 200);
    return app;
  }

  /** Waits until `count` hosts report a running container of the app's current version. */
  async waitForRunning(name: string, count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const status = await this.api("GET", `/v1/apps/${name}/status`);
      const version = status.body?.app?.version;
      const hosts = (status.body?.hosts ?? []) as {
        containers: { state: string; version: number }[];
      }[];
      const running = hosts.filter((h) =>
        h.containers.some((c) =>
          c.state === "running" && c.version === version
        )
      ).length;
      if (running >= count) return;
      last = `${running}/${count} hosts running`;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${name} not running on ${count} hosts in time (${last})`);
  }

  /** Polls `GET /` through the gateway until `ok` holds (default 60 s). */
  async waitForApp(
    hostname: string,
    ok: (res: Response, body: string) => boolean,
    timeoutMs = 60_000,
    path = "/",
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const res = await this.gateway(hostname, path);
      const body = await res.text();
      if (ok(res, body)) return;
      last = `${res.status} ${body}`;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${hostname} never became ready; last answer: ${last}`);
  }

  /**
   * The `dn` CLI as a command against this network (its config, control URL
   * and token, NO_COLOR), run in `cwd`; `options` may add environment and
   * choose the standard streams.
   */
  cliCommand(
    args: string[],
    cwd = ROOT,
    options: { env?: Record<string, string> } & Omit<Deno.CommandOptions, "args" | "cwd" | "env"> =
      {},
  ): Deno.Command {
    const { env = {}, ...streams } = options;
    return new Deno.Command(DENO, {
      args: ["run", ...permissions("cli", this.stateDir), `${ROOT}/${ENTRY.cli}`, ...args],
      cwd,
      env: {
        DN_CONFIG: `${this.stateDir}/config/test-cli.json`,
        DN_CONTROL_URL: this.controlUrl,
        DN_TOKEN: this.token,
        NO_COLOR: "1",
        ...env,
      },
      stdin: "null",
      ...streams,
    });
  }

  /** Runs the dn CLI with this network's control and registry. */
  async cli(args: string[], cwd = ROOT, env: Record<string, string> = {}): Promise<CliResult> {
    const out = await this.cliCommand(args, cwd, { env }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }
}

/** Host names of a new test network: the seed's three, with a suffix unique to the network. */
export function testHostNames(count = 3): string[] {
  const suffix = crypto.randomUUID().slice(0, 4);
  return ["vaermina", "sanguine", "meridia", "azura", "boethiah"].slice(0, count)
    .map((name) => `${name}-${suffix}`);
}

/** Starts a network with `hosts` (default: the seed's three, uniquely suffixed). */
export async function startNetwork(
  hosts = testHostNames(),
  options: TestNetworkOptions = {},
): Promise<TestNetwork> {
  return await new TestNetwork(hosts, options).start();
}
