/**
 * The app record kept by control and the reports hosts send about their
 * containers: the shapes shared by control, hosts and the CLI.
 *
 * @module
 */

/** Desired state of an app. */
export type AppStatus = "created" | "running" | "stopped";

/** All app statuses. */
export const APP_STATUSES: readonly AppStatus[] = ["created", "running", "stopped"];

/** An app as stored by control and sent to hosts. */
export interface AppRecord {
  /** App name, a DNS label; unique. */
  name: string;
  /** Hostname the gateway routes to this app; unique. */
  hostname: string;
  /** Port the app listens on inside its container. */
  port: number;
  /** Desired state. */
  status: AppStatus;
  /** Version, 1 at create, bumped by each update. */
  version: number;
  /** Image reference hosts run: `<registry>/<name>@<digest>` (records of earlier releases: a tag). */
  image: string;
  /**
   * Content digest of the current version's image (`sha256:...`), as the CLI
   * pushed it and control accepted it; "" only in records of earlier
   * releases, which hosts refuse to run.
   */
  digest: string;
  /** The digest control accepted for each version (`"1"` → `sha256:...`): what a rollback runs. */
  digests: Record<string, string>;
  /** ISO time the app was created. */
  createdAt: string;
  /** ISO time of the last change. */
  updatedAt: string;
  /** Number of hosts to run on; 0 = every host. */
  replicas: number;
  /** Hosts control placed the app on (empty when it runs on every host). */
  placement: string[];
  /** Path a host probes for health ("" = any HTTP answer on "/"). */
  healthPath: string;
  /** Request timeout in ms for this app; 0 = the gateway's default. */
  timeoutMs: number;
  /** Largest request or response body in bytes for this app; 0 = the gateway's default. */
  bodyLimit: number;
  /**
   * Longest silence on a streamed body (no byte either way) in ms for this
   * app; 0 = the network's `streamIdleTimeoutMs`.
   */
  streamIdleMs: number;
  /** Memory limit of each container in bytes; 0 = {@link DEFAULT_APP_MEMORY}. */
  memory: number;
  /** CPU limit of each container in thousandths of a CPU; 0 = {@link DEFAULT_APP_MILLI_CPUS}. */
  milliCpus: number;
  /** Plain HTTP requests: served (`off`), redirected to HTTPS (`redirect`) or refused (`only`). */
  https: HttpsMode;
  /** HSTS `max-age` in seconds sent on HTTPS answers; 0 = no header. */
  hstsSeconds: number;
  /** Environment of the app's containers; values are secret and never sent back by the API. */
  env: Record<string, string>;
  /** Bumped when the environment changes; containers are replaced to pick it up. */
  revision: number;
  /** Highest version pushed so far (an update builds the next one; a rollback goes back). */
  latestVersion: number;
}

/** The settings App.config and `dn create`/`dn update` may set (control keeps the rest). */
export type AppSettingKey =
  | "replicas"
  | "healthPath"
  | "timeoutMs"
  | "bodyLimit"
  | "streamIdleMs"
  | "memory"
  | "milliCpus"
  | "https"
  | "hstsSeconds";

/**
 * The settings of an app whose App.config gives none: 0 or "" = control's or
 * the network's default, no HTTPS.
 */
export const APP_SETTING_DEFAULTS: Readonly<Pick<AppRecord, AppSettingKey>> = {
  replicas: 0,
  healthPath: "",
  timeoutMs: 0,
  bodyLimit: 0,
  streamIdleMs: 0,
  memory: 0,
  milliCpus: 0,
  https: "off",
  hstsSeconds: 0,
};

const { replicas, ...settingsAfterReplicas } = APP_SETTING_DEFAULTS;

/** Defaults of the fields an app record may lack (records written by earlier versions). */
export const APP_DEFAULTS: Pick<
  AppRecord,
  | AppSettingKey
  | "placement"
  | "env"
  | "revision"
  | "digests"
> = {
  // replicas, then placement, then the other settings: the order records are written in.
  replicas,
  placement: [],
  ...settingsAfterReplicas,
  env: {},
  revision: 0,
  digests: {},
};

/** Memory of an app's container when its record says 0 (512 MiB). */
export const DEFAULT_APP_MEMORY = 512 * 1024 * 1024;
/** Least memory an app may ask for (16 MiB). */
export const MIN_APP_MEMORY = 16 * 1024 * 1024;
/** Most memory an app may ask for (256 GiB). */
export const MAX_APP_MEMORY = 256 * 1024 * 1024 * 1024;
/** CPU of an app's container when its record says 0, in thousandths (one CPU). */
export const DEFAULT_APP_MILLI_CPUS = 1000;
/** Least CPU an app may ask for, in thousandths (0.01, the engine's least). */
export const MIN_APP_MILLI_CPUS = 10;
/** Most CPU an app may ask for, in thousandths (64). */
export const MAX_APP_MILLI_CPUS = 64_000;
/** Most processes and threads in one app container. */
export const APP_PIDS_LIMIT = 512;

/** Shortest stream idle timeout an app may ask for, in ms (`APP_STREAM_IDLE`). */
export const MIN_STREAM_IDLE_MS = 1000;
/** Longest stream idle timeout an app may ask for, in ms (one hour). */
export const MAX_STREAM_IDLE_MS = 3_600_000;

/** True when `v` is 0 (the network's default) or a stream idle timeout in ms an app may ask for. */
export function isStreamIdleMs(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) &&
    (v === 0 || (v >= MIN_STREAM_IDLE_MS && v <= MAX_STREAM_IDLE_MS));
}

/** What the gateway does with an app's plain HTTP requests (`APP_HTTPS`). */
export type HttpsMode = "off" | "redirect" | "only";

/** Every {@link HttpsMode}. */
export const HTTPS_MODES: readonly HttpsMode[] = ["off", "redirect", "only"];

/** Longest HSTS `max-age` an app may ask for (2 years, in seconds). */
export const MAX_HSTS_SECONDS = 2 * 365 * 86_400;

/** True when `v` is an {@link HttpsMode}. */
export function isHttpsMode(v: unknown): v is HttpsMode {
  return HTTPS_MODES.includes(v as HttpsMode);
}

/** True when `v` is 0 (no HSTS) or an HSTS `max-age` in whole seconds up to 2 years. */
export function isHstsSeconds(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= MAX_HSTS_SECONDS;
}

/** True when `v` is 0 (the default) or a memory limit in bytes an app may ask for. */
export function isAppMemory(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) &&
    (v === 0 || (v >= MIN_APP_MEMORY && v <= MAX_APP_MEMORY));
}

/** True when `v` is 0 (the default) or a CPU limit in thousandths an app may ask for. */
export function isAppMilliCpus(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) &&
    (v === 0 || (v >= MIN_APP_MILLI_CPUS && v <= MAX_APP_MILLI_CPUS));
}

/** An app as the API shows it: the environment's values left out. */
export type PublicAppRecord = Omit<AppRecord, "env"> & { envKeys: string[] };

/** The app without its environment's values, for API answers. */
export function publicApp(app: AppRecord): PublicAppRecord {
  const { env, ...rest } = app;
  return { ...rest, envKeys: Object.keys(env).sort() };
}

/** True when `key` is a valid environment variable name (letters, digits, `_`; ≤ 128). */
export function isEnvKey(key: unknown): key is string {
  return typeof key === "string" && /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(key);
}

/** True when `value` is a valid environment value (no NUL, ≤ 32 KiB). */
export function isEnvValue(value: unknown): value is string {
  return typeof value === "string" && value.length <= 32 * 1024 && !value.includes("\0");
}

/** True when `path` is a valid health check path ("" or an absolute path without spaces). */
export function isHealthPath(path: unknown): path is string {
  return typeof path === "string" &&
    (path === "" || /^\/[\x21-\x7e]{0,255}$/.test(path));
}

/** One container of an app on one host, as reported by that host. */
export interface ContainerReport {
  /** Docker container id (full). */
  id: string;
  /** Image id (`sha256:...`) the container runs. */
  imageId: string;
  /** App version the container runs. */
  version: number;
  /** Environment revision the container was made with (`dn env` bumps it); absent: 0. */
  revision?: number;
  /** Image digest the container was created from (`sha256:...`); "" or absent when not known. */
  digest?: string;
  /** Docker state: `created`, `running`, `exited`, `restarting`, ... */
  state: string;
  /** Exit code when exited. */
  exitCode: number;
  /** ISO time the container was created. */
  createdAt: string;
  /** ISO time the container last started, or "". */
  startedAt: string;
  /** ISO time the container last stopped, or "". */
  finishedAt: string;
  /** True when the kernel killed it for memory (last exit; absent from older hosts). */
  oomKilled?: boolean;
  /** How many times the engine restarted it (absent from older hosts). */
  restartCount?: number;
  /**
   * True for the container the host sends the app's requests to (it answered
   * its readiness probe); absent from older hosts.
   */
  serving?: boolean;
  /** Why the last readiness or health probe of this container failed, while it fails. */
  probeError?: string;
}

/** Why a host could not run an app's current release: the version and revision it tried. */
export interface HostFailure {
  /** App version the host tried to start. */
  version: number;
  /** Environment revision it tried to start. */
  revision: number;
  /** What went wrong (`... did not become ready in time: connection refused`). */
  message: string;
}

/** A host's answer to `status.<app>`, with the round trip control measured. */
export interface HostReport {
  /** Host service name. */
  host: string;
  /**
   * Round trip from control to the host and back over the message bus, in
   * milliseconds, without the time the host took to answer (its Docker query).
   */
  latencyMs: number;
  /** Time the host took to answer (its Docker query), in milliseconds, when it said. */
  dockerMs?: number;
  /** The app's containers on that host (empty when none). */
  containers: ContainerReport[];
  /** Why the host's last attempt to run the app's current release failed, until one succeeds. */
  failure?: HostFailure;
}

/** Body of `GET /v1/apps/:name/status`. */
export interface AppStatusReport {
  /** The app's record. */
  app: AppRecord;
  /** One entry per host that answered, sorted by host name. */
  hosts: HostReport[];
}

/** Image reference of an app version: `<registry>/<name>:v<version>` (what `dn build` tags). */
export function imageRef(registry: string, name: string, version: number): string {
  return `${registry}/${name}:v${version}`;
}

/** Image reference by content: `<registry>/<name>@<digest>`, the only way hosts run an image. */
export function digestRef(registry: string, name: string, digest: string): string {
  return `${registry}/${name}@${digest}`;
}

/** The digest control recorded for `version` of `app`, or "" when it has none. */
export function digestOf(
  app: Pick<AppRecord, "digests" | "digest" | "version">,
  version: number,
): string {
  return app.digests[String(version)] ?? (version === app.version ? app.digest : "");
}
