/**
 * A streaming tar (POSIX ustar + PAX) writer, used to send build contexts and
 * root file systems to the Docker Engine.
 *
 * Archives are reproducible: entries carry mtime 0, uid/gid 0 and no user or
 * group names unless told otherwise, and {@linkcode tarDirectory} walks a
 * directory in sorted order. Names longer than ustar allows (100 bytes, or
 * 155 + 100 with the prefix field), names that are not plain ASCII, link
 * targets over 100 bytes and files of 8 GiB or more get a PAX extended header.
 *
 * @example Tar two entries and list them
 * ```ts
 * import { tarEntries } from "./tar.ts";
 *
 * const tar = tarEntries([
 *   { type: "directory", name: "app" },
 *   { type: "file", name: "app/hello.txt", data: new TextEncoder().encode("hi\n") },
 * ]);
 * const bytes = await new Response(tar).bytes();
 * console.log(bytes.length); // 2048: two headers, one data block, two end blocks
 * ```
 *
 * @module
 */

const BLOCK = 512;
/** Largest size the 12-byte octal field holds (11 digits). */
const MAX_OCTAL_SIZE = 0o77777777777;
const READ_CHUNK = 64 * 1024;
const encoder = new TextEncoder();

/** Fields every kind of tar entry shares. */
export interface TarEntryBase {
  /** Path inside the archive, `/`-separated and relative (`app/main.ts`). */
  name: string;
  /** Permission bits (`0o644`); defaults to 0o644 for files, 0o755 otherwise. */
  mode?: number;
  /** Modification time in seconds since the epoch; defaults to 0 (reproducible). */
  mtime?: number;
  /** Owner user id; defaults to 0. */
  uid?: number;
  /** Owner group id; defaults to 0. */
  gid?: number;
}

/** A regular file. `data` is its content, whole or as chunks of exactly `size` bytes. */
export interface TarFileEntry extends TarEntryBase {
  /** Entry kind. */
  type: "file";
  /** The content, or an iterable of chunks adding up to exactly `size` bytes. */
  data: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Content length in bytes; required when `data` is not a `Uint8Array`. */
  size?: number;
}

/** A directory. A trailing `/` is added to its name. */
export interface TarDirectoryEntry extends TarEntryBase {
  /** Entry kind. */
  type: "directory";
}

/** A symbolic link pointing at `target`. */
export interface TarSymlinkEntry extends TarEntryBase {
  /** Entry kind. */
  type: "symlink";
  /** The link's target, as stored (relative or absolute). */
  target: string;
}

/** One entry of a tar archive. */
export type TarEntry = TarFileEntry | TarDirectoryEntry | TarSymlinkEntry;

/**
 * Decides whether a path is left out of an archive. `relPath` is relative to
 * the archived directory and `/`-separated, without a trailing slash.
 *
 * When a directory is left out, {@linkcode tarDirectory} does not descend into
 * it unless the filter's optional `mayIncludeUnder` says something below it
 * may still be included (Docker's `!exception` patterns).
 */
export interface PathFilter {
  /** True when `relPath` must be left out. */
  (relPath: string): boolean;
  /** True when some path below the excluded directory `relDir` may still be included. */
  mayIncludeUnder?(relDir: string): boolean;
}

/**
 * Streams a tar archive of `entries`, in the order given, ended by two zero
 * blocks. Entry names are checked (relative, no `..`, no NUL); a file whose
 * data does not add up to its size makes the stream error.
 *
 * @example
 * ```ts
 * import { tarEntries } from "./tar.ts";
 *
 * const stream = tarEntries([{ type: "file", name: "empty", data: new Uint8Array() }]);
 * await new Response(stream).bytes();
 * ```
 */
export function tarEntries(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
): ReadableStream<Uint8Array> {
  return ReadableStream.from(generateTar(entries));
}

async function* generateTar(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
): AsyncGenerator<Uint8Array> {
  for await (const entry of entries) yield* encodeEntry(entry);
  yield new Uint8Array(BLOCK * 2);
}

/**
 * Streams a tar archive of the directory `dir`: every directory, regular file
 * and symbolic link below it (not `dir` itself), depth first in sorted order,
 * with the file's permission bits and mtime 0. Paths for which `ignore`
 * returns true are left out (see {@linkcode PathFilter}). Sockets, FIFOs and
 * devices are skipped. Files are read as the stream is consumed.
 *
 * @example Tar a build context
 * ```ts ignore
 * import { tarDirectory } from "./tar.ts";
 *
 * const tar = tarDirectory("apps/hello-world", (path) => path.startsWith(".git"));
 * ```
 */
export function tarDirectory(
  dir: string,
  ignore: PathFilter = () => false,
): ReadableStream<Uint8Array> {
  return tarEntries(walk(dir, "", ignore));
}

async function* walk(root: string, relDir: string, ignore: PathFilter): AsyncGenerator<TarEntry> {
  const absDir = relDir === "" ? root : `${root}/${relDir}`;
  const names: string[] = [];
  for await (const entry of Deno.readDir(absDir)) names.push(entry.name);
  names.sort(compareNames);
  for (const name of names) {
    const rel = relDir === "" ? name : `${relDir}/${name}`;
    const abs = `${root}/${rel}`;
    const info = await Deno.lstat(abs);
    const mode = (info.mode ?? (info.isDirectory ? 0o755 : 0o644)) & 0o7777;
    const excluded = ignore(rel);
    if (info.isDirectory) {
      if (!excluded) yield { type: "directory", name: rel, mode };
      if (!excluded || ignore.mayIncludeUnder?.(rel)) yield* walk(root, rel, ignore);
    } else if (excluded) {
      continue;
    } else if (info.isFile) {
      yield { type: "file", name: rel, mode, size: info.size, data: readFile(abs) };
    } else if (info.isSymlink) {
      yield { type: "symlink", name: rel, mode: 0o777, target: await Deno.readLink(abs) };
    }
  }
}

async function* readFile(path: string): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  while (true) {
    const buf = new Uint8Array(READ_CHUNK);
    const n = await file.read(buf);
    if (n === null) return;
    yield buf.subarray(0, n);
  }
}

/** Sorts by UTF-16 code units, like a plain `sort()`, so the order never depends on a locale. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function* encodeEntry(entry: TarEntry): AsyncGenerator<Uint8Array> {
  checkName(entry.name);
  const name = entry.type === "directory" && !entry.name.endsWith("/")
    ? `${entry.name}/`
    : entry.name;
  let size = 0;
  if (entry.type === "file") {
    if (entry.data instanceof Uint8Array) size = entry.data.length;
    else if (entry.size === undefined) {
      throw new TypeError(`tar: ${entry.name}: size is required when data is streamed`);
    } else size = entry.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TypeError(`tar: ${entry.name}: bad size`);
    }
  }
  const linkname = entry.type === "symlink" ? entry.target : "";
  if (linkname.includes("\0")) throw new TypeError(`tar: ${entry.name}: bad link target`);

  const pax: [string, string][] = [];
  const nameBytes = encoder.encode(name);
  let split = isAscii(name) ? splitUstarName(nameBytes) : null;
  if (split === null) {
    pax.push(["path", name]);
    split = { prefix: new Uint8Array(), name: truncateName(nameBytes) };
  }
  let linkBytes = encoder.encode(linkname);
  if (linkBytes.length > 100 || !isAscii(linkname)) {
    pax.push(["linkpath", linkname]);
    linkBytes = linkBytes.subarray(0, 0);
  }
  if (size > MAX_OCTAL_SIZE) pax.push(["size", String(size)]);

  const mode = entry.mode ?? (entry.type === "file" ? 0o644 : 0o755);
  const mtime = entry.mtime ?? 0;
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  if (pax.length > 0) {
    const body = encodePax(pax);
    yield header({
      name: encoder.encode(`PaxHeaders/${shortBase(name)}`),
      prefix: new Uint8Array(),
      mode: 0o644,
      uid,
      gid,
      size: body.length,
      mtime,
      type: "x",
      linkname: new Uint8Array(),
    });
    yield padded(body);
  }
  const type = entry.type === "file" ? "0" : entry.type === "directory" ? "5" : "2";
  yield header({
    name: split.name,
    prefix: split.prefix,
    mode,
    uid,
    gid,
    size: size > MAX_OCTAL_SIZE ? 0 : size,
    mtime,
    type,
    linkname: linkBytes,
  });
  if (entry.type !== "file") return;
  if (entry.data instanceof Uint8Array) {
    if (size > 0) yield padded(entry.data);
    return;
  }
  let written = 0;
  for await (const chunk of entry.data) {
    if (chunk.length === 0) continue;
    written += chunk.length;
    if (written > size) {
      throw new Error(
        `tar: ${entry.name}: more data than its size (${size} bytes); changed while archiving?`,
      );
    }
    yield chunk;
  }
  if (written !== size) {
    throw new Error(
      `tar: ${entry.name}: ${written} bytes instead of ${size}; changed while archiving?`,
    );
  }
  const rest = size % BLOCK;
  if (rest !== 0) yield new Uint8Array(BLOCK - rest);
}

function checkName(name: string): void {
  const bad = name === "" || name.startsWith("/") || name.includes("\0") ||
    name.split("/").some((part) => part === "..");
  if (bad) throw new TypeError(`tar: bad entry name ${JSON.stringify(name)}`);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}

/** Splits a name into ustar prefix (≤155 bytes) and name (≤100 bytes) at a slash, or null. */
function splitUstarName(bytes: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | null {
  if (bytes.length <= 100) return { prefix: new Uint8Array(), name: bytes };
  if (bytes.length > 256) return null;
  // A directory's trailing slash must stay in the name part, so never split there.
  for (let i = Math.min(155, bytes.length - 2); i > 0; i--) {
    if (bytes[i] !== 0x2f) continue;
    const rest = bytes.length - i - 1;
    if (rest > 100) return null;
    return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
  }
  return null;
}

/** A fallback name for readers without PAX support: the first 100 bytes, ASCII only. */
function truncateName(bytes: Uint8Array): Uint8Array {
  const ascii = bytes.map((b) => (b < 0x80 ? b : 0x5f));
  return ascii.subarray(0, 100);
}

function shortBase(name: string): string {
  const base = name.replace(/\/$/, "").split("/").pop() ?? "entry";
  return base.replace(/[^\x20-\x7e]/g, "_").slice(0, 80);
}

/** PAX records: `"<len> <key>=<value>\n"`, where len counts the whole record. */
function encodePax(records: [string, string][]): Uint8Array {
  let text = "";
  for (const [key, value] of records) {
    const body = encoder.encode(` ${key}=${value}\n`).length;
    let len = body + String(body).length;
    if (String(len).length !== String(body).length) len = body + String(len).length;
    text += `${len} ${key}=${value}\n`;
  }
  return encoder.encode(text);
}

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: Uint8Array;
}

function header(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(f.name, 0);
  octal(h, 100, 8, f.mode & 0o7777);
  octal(h, 108, 8, f.uid);
  octal(h, 116, 8, f.gid);
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, Math.max(0, Math.floor(f.mtime)));
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h[156] = f.type.charCodeAt(0);
  h.set(f.linkname, 157);
  h.set(encoder.encode("ustar\x0000"), 257);
  h.set(f.prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  const chk = encoder.encode(sum.toString(8).padStart(6, "0"));
  h.set(chk, 148);
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** Writes `value` as zero-padded octal digits followed by a NUL into a `width`-byte field. */
function octal(h: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > width - 1) {
    throw new RangeError(`tar: ${value} does not fit in ${width} bytes`);
  }
  h.set(encoder.encode(digits.padStart(width - 1, "0")), offset);
  h[offset + width - 1] = 0;
}

function padded(data: Uint8Array): Uint8Array {
  const rest = data.length % BLOCK;
  if (rest === 0) return data;
  const out = new Uint8Array(data.length + BLOCK - rest);
  out.set(data);
  return out;
}
