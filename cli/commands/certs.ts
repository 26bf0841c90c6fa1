/**
 * `dn certs set HOSTNAME --cert FILE --key FILE`, `dn certs list`,
 * `dn certs remove HOSTNAME`: the certificates the gateways serve over HTTPS
 * (by SNI) for app hostnames. The private key is a secret: the key file
 * must not be readable by group or others, it goes to control and never
 * comes back, and nothing prints it (not even in errors).
 *
 * @module
 */

import type { CertInfo } from "../../lib/certs.ts";
import { isHostname } from "../../lib/names.ts";
import { type Command, CONTROL_FLAGS } from "../command.ts";
import type { Context } from "../context.ts";
import { CliError, UsageError } from "../errors.ts";

/** Largest certificate or key file read, in bytes. */
const FILE_LIMIT = 64 * 1024;

function usage(message: string): UsageError {
  return new UsageError(message, "certs");
}

function hostnameArg(args: readonly string[], command: string): string {
  if (args.length !== 1) throw usage(`dn certs ${command} needs one HOSTNAME`);
  const hostname = args[0].toLowerCase().replace(/\.$/, "");
  if (!isHostname(hostname)) {
    throw usage(`dn certs ${command}: invalid hostname ${JSON.stringify(args[0].slice(0, 80))}`);
  }
  return hostname;
}

/**
 * Reads a PEM file given with `flag`; with `secret`, refuses a file that
 * group or others can read (like the `*File` secrets of the config).
 */
export async function readPemFile(path: string, flag: string, secret: boolean): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new CliError(`${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new CliError(`${flag}: ${path} is not a regular file`);
  if (secret && info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new CliError(
      `${flag}: ${path} must not be readable by group or others (chmod 600 ${path})`,
    );
  }
  if (info.size > FILE_LIMIT) throw new CliError(`${flag}: ${path} is over 64 KiB`);
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new CliError(`${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** One line of `dn certs list`. */
export function certLine(cert: CertInfo, now: Date): string {
  const days = Math.floor((Date.parse(cert.notAfter) - now.getTime()) / 86_400_000);
  return `${cert.hostname.padEnd(30)} ${
    cert.notAfter.slice(0, 10)
  } (${days} days)  ${cert.source}  ${cert.issuer}`;
}

async function set(ctx: Context, args: readonly string[]): Promise<void> {
  const hostname = hostnameArg(args, "set");
  const { cert: certPath, key: keyPath } = ctx.options;
  if (certPath === undefined || keyPath === undefined) {
    throw usage("dn certs set needs --cert FILE and --key FILE");
  }
  const cert = await readPemFile(ctx.resolve(certPath), "--cert", false);
  const key = await readPemFile(ctx.resolve(keyPath), "--key", true);
  const info = field(await ctx.control().request("PUT", certUrlPath(hostname), { cert, key }));
  if (ctx.options.json) {
    ctx.out(JSON.stringify({ cert: info }, null, 2));
    return;
  }
  ctx.out(`${hostname} certificate set (until ${info.notAfter.slice(0, 10)}, ${info.issuer})`);
}

async function list(ctx: Context, args: readonly string[]): Promise<void> {
  if (args.length > 0) throw usage("dn certs list takes no arguments");
  const body = await ctx.control().request("GET", "/v1/certs") as { certs?: unknown };
  if (!Array.isArray(body?.certs) || !body.certs.every(isCertInfo)) {
    throw new CliError("control sent a malformed answer for /v1/certs");
  }
  if (ctx.options.json) {
    ctx.out(JSON.stringify({ certs: body.certs }, null, 2));
    return;
  }
  for (const cert of body.certs) ctx.out(certLine(cert, ctx.now()));
}

async function issue(ctx: Context, args: readonly string[]): Promise<void> {
  const hostname = hostnameArg(args, "issue");
  const info = field(await ctx.control().request("POST", `${certUrlPath(hostname)}/acme`));
  if (ctx.options.json) {
    ctx.out(JSON.stringify({ cert: info }, null, 2));
    return;
  }
  ctx.out(`${hostname} certificate issued (until ${info.notAfter.slice(0, 10)}, ${info.issuer})`);
}

async function remove(ctx: Context, args: readonly string[]): Promise<void> {
  const hostname = hostnameArg(args, "remove");
  await ctx.control().request("DELETE", certUrlPath(hostname));
  ctx.out(`${hostname} certificate removed`);
}

function certUrlPath(hostname: string): string {
  return `/v1/certs/${encodeURIComponent(hostname)}`;
}

function isCertInfo(value: unknown): value is CertInfo {
  const v = value as Record<string, unknown>;
  return typeof v === "object" && v !== null && typeof v.hostname === "string" &&
    typeof v.notAfter === "string" && typeof v.issuer === "string" &&
    typeof v.source === "string" && typeof v.fingerprint === "string";
}

function field(body: unknown): CertInfo {
  const cert = (body as { cert?: unknown })?.cert;
  if (!isCertInfo(cert)) throw new CliError("control sent a malformed answer for /v1/certs");
  return cert;
}

/** `dn certs`. */
export const certs: Command = {
  name: "certs",
  summary: "set, list, or remove HTTPS certificates",
  description:
    "Manage the certificates the gateways serve over HTTPS, one per hostname (by SNI).\n" +
    "set reads a PEM certificate chain and its private key; the key file must be\n" +
    "mode 600 and is never printed. issue gets one from control's ACME directory\n" +
    "(HTTP-01, answered by the gateways); control renews those by itself.\n" +
    "Gateways serve a new certificate at once.",
  args: "set HOSTNAME --cert FILE --key FILE | issue HOSTNAME | list | remove HOSTNAME",
  maxArgs: 2,
  flags: ["cert", "key", "json", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const [sub, ...rest] = args;
    const run = sub === "set"
      ? set
      : sub === "list"
      ? list
      : sub === "remove"
      ? remove
      : sub === "issue"
      ? issue
      : undefined;
    if (!run) {
      throw usage(
        sub === undefined
          ? "dn certs needs set, issue, list or remove"
          : `dn certs: unknown subcommand ${
            JSON.stringify(sub.slice(0, 40))
          } (use set, issue, list or remove)`,
      );
    }
    await run(ctx, rest);
  },
};
