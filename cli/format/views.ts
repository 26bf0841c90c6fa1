/**
 * The text the CLI prints for apps: the `dn list` and `dn status` tables and
 * the one-line results of the other commands. Pure functions of their data
 * and the current time.
 *
 * @module
 */

import { AGE_UNITS } from "../app_config.ts";
import type {
  AppRecord,
  AppSettingKey,
  ContainerReport,
  HostReport,
  PublicAppRecord,
} from "../../lib/apps.ts";

/** What `dn list` shows of an app. */
export type ListedApp = Pick<AppRecord, "name" | "version" | "createdAt" | "status">;

/** What `dn status` shows of an app: the seed's fields, and the settings when control sends them. */
export type StatusApp =
  & Pick<AppRecord, "name" | "status" | "version">
  & Partial<
    Pick<
      PublicAppRecord,
      | AppSettingKey
      | "placement"
      | "latestVersion"
      | "envKeys"
      | "revision"
      | "digest"
    >
  >;

/** What `dn status` shows: the app and every host's containers. */
export interface StatusView {
  /** The app. */
  app: StatusApp;
  /** Each host's report. */
  hosts: readonly HostReport[];
}
import { type Column, renderTable } from "./table.ts";
import { relativeTime } from "./time.ts";
import { observedStatus, problemLines, rowStatus } from "./readiness.ts";

/** Columns of `dn list`. */
export const LIST_COLUMNS: readonly Column[] = [
  { title: "APPLICATION", width: 30 },
  { title: "CREATED", width: 22 },
  { title: "STATUS" },
];

/** Columns of the `dn status` table. */
export const STATUS_COLUMNS: readonly Column[] = [
  { title: "HOST", width: 22 },
  { title: "IMAGE", width: 11 },
  { title: "VERSION", width: 9 },
  { title: "CREATED", width: 22 },
  { title: "STATUS", width: 22, fit: true },
  { title: "LATENCY" },
];

/** `hello-world (hello-world.dn.local)`: how results name an app. */
export function appLabel(app: Pick<AppRecord, "name" | "hostname">): string {
  return `${app.name} (${app.hostname})`;
}

/**
 * The `dn list` table, apps sorted by name.
 *
 * @example
 * ```ts
 * renderList(apps, new Date());
 * // APPLICATION                   CREATED               STATUS
 * // blog (v4)                     a day ago             running
 * ```
 */
export function renderList(apps: readonly ListedApp[], now: Date): string[] {
  const sorted = [...apps].sort((a, b) => compare(a.name, b.name));
  return renderTable(
    LIST_COLUMNS,
    sorted.map((app) => [
      `${app.name} (v${app.version})`,
      relativeTime(app.createdAt, now),
      app.status,
    ]),
  );
}

/** First 7 hex digits of an image id or digest (`sha256:6f0d8b9aefff...` → `6f0d8b9`). */
export function shortImageId(imageId: string): string {
  return imageId.replace(/^sha256:/, "").slice(0, 7);
}

/**
 * A latency: whole milliseconds from 1 ms, decimals below (`48 ms`, `3 ms`,
 * `0.4 ms`, `0.06 ms`).
 */
export function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  if (ms >= 0.95) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(ms < 0.095 ? 2 : 1)} ms`;
}

/** `v2`, or `v2 r3` for a container of environment revision 3 (`dn env`). */
export function versionLabel(c: Pick<ContainerReport, "version" | "revision">): string {
  return c.revision ? `v${c.version} r${c.revision}` : `v${c.version}`;
}

/**
 * A duration in ms as App.config writes it: `2m`, `30s`, `1500ms`.
 *
 * @example
 * ```ts
 * formatDuration(90_000); // "90s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * A time in seconds as App.config's `APP_HSTS` writes it: `1y`, `180d`, `12h`, `90s`.
 *
 * @example
 * ```ts
 * formatAge(31_536_000); // "1y"
 * ```
 */
export function formatAge(seconds: number): string {
  for (const [unit, size] of Object.entries(AGE_UNITS).reverse()) {
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/**
 * A byte count as App.config writes it (binary units): `1g`, `16m`, `512k`, `1500b`.
 *
 * @example
 * ```ts
 * formatSize(16 * 1024 * 1024); // "16m"
 * ```
 */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}b`;
}

/**
 * `Replicas: 2 (meridia, vaermina)`: how many hosts the app asks for and the
 * hosts control placed it on; a shortfall (fewer live hosts than replicas)
 * is named. Null when the app runs on every host.
 *
 * @example
 * ```ts
 * replicasLine({ replicas: 3, placement: ["meridia", "vaermina"] });
 * // "Replicas: 3 (meridia, vaermina; 1 not placed: too few live hosts)"
 * ```
 */
export function replicasLine(app: Pick<StatusApp, "replicas" | "placement">): string | null {
  const replicas = app.replicas ?? 0;
  if (replicas === 0) return null;
  const placement = app.placement ?? [];
  const missing = replicas - placement.length;
  const hosts = placement.length === 0 ? "none placed" : placement.join(", ");
  const short = missing > 0 && placement.length > 0
    ? `; ${missing} not placed: too few live hosts`
    : "";
  return `Replicas: ${replicas} (${hosts}${short})`;
}

/**
 * The header lines `dn status` prints after the seed's three for settings
 * that differ from the defaults: replicas and placement, the latest version
 * when the app was rolled back, health path, timeout, body limit, stream idle timeout, memory and
 * CPU limits, HTTPS mode and HSTS, and the environment's names (never values).
 */
export function settingsLines(app: StatusApp): string[] {
  const lines: string[] = [];
  const replicas = replicasLine(app);
  if (replicas !== null) lines.push(replicas);
  if (app.latestVersion !== undefined && app.latestVersion > app.version) {
    lines.push(`Latest: ${app.latestVersion} (rolled back)`);
  }
  if (app.healthPath) lines.push(`Health: ${app.healthPath}`);
  if (app.timeoutMs) lines.push(`Timeout: ${formatDuration(app.timeoutMs)}`);
  if (app.bodyLimit) lines.push(`Body limit: ${formatSize(app.bodyLimit)}`);
  if (app.streamIdleMs) lines.push(`Stream idle: ${formatDuration(app.streamIdleMs)}`);
  if (app.memory) lines.push(`Memory: ${formatSize(app.memory)}`);
  if (app.milliCpus) lines.push(`CPUs: ${app.milliCpus / 1000}`);
  if (app.https && app.https !== "off") lines.push(`HTTPS: ${app.https}`);
  if (app.hstsSeconds) lines.push(`HSTS: ${formatAge(app.hstsSeconds)}`);
  if (app.envKeys?.length) lines.push(`Env: ${app.envKeys.join(", ")}`);
  return lines;
}

/**
 * The `dn status` output: name, status and version lines (the seed's), the
 * {@link settingsLines} that apply, a blank line, then one table row per
 * container on each host, sorted by host name, newest container first within
 * a host (each row's status says whether it serves: see `rowStatus`), then a
 * line for each host that cannot run the app (`problemLines`). Hosts without
 * containers have no row.
 *
 * @example
 * ```ts
 * renderStatus(report, new Date());
 * // Name: hello-world
 * // Status: running
 * // Version: 1
 * //
 * // HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY
 * // meridia               6f0d8b9    v1       a few seconds ago     up 12 seconds         0.4 ms
 * ```
 */
export function renderStatus(report: StatusView, now: Date): string[] {
  const hosts = [...report.hosts].sort((a, b) => compare(a.host, b.host));
  const rows: string[][] = [];
  for (const host of hosts) {
    const containers = [...host.containers].sort(newestFirst);
    for (const c of containers) {
      rows.push([
        host.host,
        shortImageId(c.digest || c.imageId),
        versionLabel(c),
        relativeTime(c.createdAt, now),
        rowStatus(c, report.app, now),
        formatLatency(host.latencyMs),
      ]);
    }
  }
  const behind = behindLine(report);
  return [
    `Name: ${report.app.name}`,
    `Status: ${observedStatus(report.app, hosts)}`,
    `Version: ${report.app.version}`,
    ...settingsLines(report.app),
    ...(behind === null ? [] : [behind]),
    "",
    ...renderTable(STATUS_COLUMNS, rows),
    ...problemLines(report.app, hosts),
    ...strangers(report.app, hosts),
  ];
}

/**
 * `Behind: dn-m1 (v2)` when a running app has hosts whose newest running
 * container is an older version (a host that cannot pull yet), else null.
 */
export function behindLine(report: StatusView): string | null {
  if (report.app.status !== "running") return null;
  const behind: string[] = [];
  for (const host of [...report.hosts].sort((a, b) => compare(a.host, b.host))) {
    const running = host.containers.filter((c) => c.state === "running").map((c) => c.version);
    if (running.length === 0) continue;
    const newest = Math.max(...running);
    if (newest < report.app.version) behind.push(`${host.host} (v${newest})`);
  }
  return behind.length === 0 ? null : `Behind: ${behind.join(", ")}`;
}

/**
 * A line for each host running a container of the app that is not the
 * accepted image (another digest, or one made without a recorded digest).
 */
function strangers(app: StatusApp, hosts: readonly HostReport[]): string[] {
  if (!app.digest) return [];
  const lines: string[] = [];
  for (const host of hosts) {
    for (const c of host.containers) {
      if (c.state === "running" && c.digest !== app.digest) {
        const runs = c.digest ? shortImageId(c.digest) : "an image without a recorded digest";
        lines.push(
          `! ${host.host} runs ${runs} (v${c.version}), not the accepted ${
            shortImageId(app.digest)
          }`,
        );
      }
    }
  }
  return lines.length > 0 ? ["", ...lines] : [];
}

function newestFirst(a: ContainerReport, b: ContainerReport): number {
  return (b.version - a.version) || ((b.revision ?? 0) - (a.revision ?? 0)) ||
    compare(b.createdAt, a.createdAt) || compare(a.id, b.id);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A byte count as the Docker CLI prints it (decimal units, 4 significant
 * digits): `156.7kB`, `2.5MB`, `512B`.
 *
 * @example
 * ```ts
 * humanSize(156_700); // "156.7kB"
 * ```
 */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let size = Math.max(0, bytes);
  let i = 0;
  while (size >= 1000 && i < units.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(4))}${units[i]}`;
}
