/**
 * The text the CLI prints for apps: the `dn list` and `dn status` tables and
 * the one-line results of the other commands. Pure functions of their data
 * and the current time.
 *
 * @module
 */

import type { AppRecord, AppStatusReport, ContainerReport } from "../../lib/apps.ts";
import { type Column, renderTable } from "./table.ts";
import { containerStatus, relativeTime } from "./time.ts";

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
  { title: "CREATED", width: 22 },
  { title: "STATUS", width: 22 },
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
export function renderList(apps: readonly AppRecord[], now: Date): string[] {
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

/** First 7 hex digits of an image id (`sha256:6f0d8b9aefff...` → `6f0d8b9`). */
export function shortImageId(imageId: string): string {
  return imageId.replace(/^sha256:/, "").slice(0, 7);
}

/** `48 ms`: a latency rounded to whole milliseconds. */
export function formatLatency(ms: number): string {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : "";
}

/**
 * The `dn status` output: name, status and version lines, a blank line, then
 * one table row per container on each host, sorted by host name, newest
 * container first within a host. Hosts without containers have no row.
 *
 * @example
 * ```ts
 * renderStatus(report, new Date());
 * // Name: hello-world
 * // Status: running
 * // Version: 1
 * //
 * // HOST                  IMAGE      CREATED               STATUS                LATENCY
 * // meridia               6f0d8b9    a few seconds ago     up 12 seconds         49 ms
 * ```
 */
export function renderStatus(report: AppStatusReport, now: Date): string[] {
  const hosts = [...report.hosts].sort((a, b) => compare(a.host, b.host));
  const rows: string[][] = [];
  for (const host of hosts) {
    const containers = [...host.containers].sort(newestFirst);
    for (const c of containers) {
      rows.push([
        host.host,
        shortImageId(c.imageId),
        relativeTime(c.createdAt, now),
        containerStatus(c, now),
        formatLatency(host.latencyMs),
      ]);
    }
  }
  return [
    `Name: ${report.app.name}`,
    `Status: ${report.app.status}`,
    `Version: ${report.app.version}`,
    "",
    ...renderTable(STATUS_COLUMNS, rows),
  ];
}

function newestFirst(a: ContainerReport, b: ContainerReport): number {
  return (b.version - a.version) || compare(b.createdAt, a.createdAt) || compare(a.id, b.id);
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
