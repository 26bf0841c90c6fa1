/**
 * `.dockerignore` support: which files of a build context are sent to the
 * engine.
 *
 * Docker's rules, which differ from `.gitignore`, are kept; the glob matching
 * of each pattern is done by the npm `ignore` package:
 *
 * - lines are trimmed; empty lines and lines starting with `#` are skipped;
 * - every pattern is relative to the context root (`foo` matches `./foo`, not
 *   `sub/foo`; start it with a `**` segment to match at any depth), after cleaning (`./a//b/` is `a/b`);
 * - a pattern matching a directory also matches everything below it;
 * - `!pattern` re-includes, and the last matching line wins, even below an
 *   excluded directory (`node_modules` then `!node_modules/keep.js` sends
 *   `node_modules/keep.js`);
 * - the Dockerfile and `.dockerignore` are always sent.
 *
 * @example
 * ```ts
 * import { parseDockerignore } from "./dockerignore.ts";
 *
 * const ignored = parseDockerignore("*.log\nnode_modules\n!node_modules/keep.js\n");
 * ignored("debug.log"); // true
 * ignored("logs/debug.log"); // false: patterns are rooted
 * ignored("node_modules/a.js"); // true
 * ignored("node_modules/keep.js"); // false
 * ```
 *
 * @module
 */

import ignore from "ignore";
import type { PathFilter } from "./tar.ts";

/** Options for {@linkcode parseDockerignore} and {@linkcode readDockerignore}. */
export interface DockerignoreOptions {
  /** Path of the Dockerfile in the context, always sent. Default `Dockerfile`. */
  dockerfile?: string;
}

interface Rule {
  /** Cleaned pattern, without `!`. */
  pattern: string;
  negated: boolean;
  /** Matches the pattern against a path or any of its parent directories. */
  matches: (path: string) => boolean;
}

/**
 * Parses the text of a `.dockerignore` file into a {@linkcode PathFilter}
 * that returns true for context paths (relative, `/`-separated) to leave out.
 *
 * @example
 * ```ts
 * import { parseDockerignore } from "./dockerignore.ts";
 *
 * const ignored = parseDockerignore("*\n!src\n");
 * ignored("README.md"); // true
 * ignored("src/main.ts"); // false
 * ignored("Dockerfile"); // false: always sent
 * ```
 */
export function parseDockerignore(text: string, opts: DockerignoreOptions = {}): PathFilter {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const rule = parseLine(raw);
    if (rule !== null) rules.push(rule);
  }
  const always = new Set([".dockerignore", cleanPath(opts.dockerfile ?? "Dockerfile")]);
  const filter = (relPath: string): boolean => {
    const path = cleanPath(relPath);
    if (path === "" || always.has(path)) return false;
    let excluded = false;
    for (const rule of rules) {
      if (rule.matches(path)) excluded = !rule.negated;
    }
    return excluded;
  };
  filter.mayIncludeUnder = (relDir: string): boolean => {
    const dir = cleanPath(relDir).split("/");
    for (const keep of always) {
      if (keep.startsWith(`${dir.join("/")}/`)) return true;
    }
    return rules.some((rule) => rule.negated && couldMatchBelow(rule.pattern, dir));
  };
  return filter;
}

/**
 * Reads `.dockerignore` in `contextDir` (none: nothing is ignored) and returns
 * its {@linkcode PathFilter}, ready for `tarDirectory`.
 *
 * @example
 * ```ts ignore
 * import { readDockerignore } from "./dockerignore.ts";
 * import { tarDirectory } from "./tar.ts";
 *
 * const dir = "apps/hello-world";
 * const tar = tarDirectory(dir, await readDockerignore(dir));
 * ```
 */
export async function readDockerignore(
  contextDir: string,
  opts: DockerignoreOptions = {},
): Promise<PathFilter> {
  let text = "";
  try {
    text = await Deno.readTextFile(`${contextDir}/.dockerignore`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return parseDockerignore(text, opts);
}

function parseLine(raw: string): Rule | null {
  let line = raw.trim();
  if (line === "" || line.startsWith("#")) return null;
  let negated = false;
  if (line.startsWith("!")) {
    negated = true;
    line = line.slice(1).trim();
  }
  const pattern = cleanPath(line);
  if (pattern === "" || pattern === ".." || pattern.startsWith("../")) return null;
  // Anchor at the root: Docker patterns never float to any depth like .gitignore's.
  const matcher = ignore({ allowRelativePaths: true }).add(`/${pattern}`);
  return { pattern, negated, matches: (path) => matcher.ignores(path) };
}

/** `path.posix.clean` without the leading slash: `./a//b/../c/` → `a/c`, `/` → ``. */
function cleanPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (part === ".." && path.startsWith("/")) continue;
    else out.push(part);
  }
  return out.join("/");
}

/** Conservatively true when `pattern` may match some path strictly below the directory `dir`. */
function couldMatchBelow(pattern: string, dir: string[]): boolean {
  const parts = pattern.split("/");
  for (let i = 0; i < dir.length; i++) {
    if (i >= parts.length) return false;
    const part = parts[i];
    if (part.includes("**")) return true;
    if (/[*?[\\]/.test(part)) {
      const segment = ignore({ allowRelativePaths: true }).add(`/${part}`);
      if (!segment.ignores(dir[i])) return false;
    } else if (part !== dir[i]) return false;
  }
  return parts.length > dir.length;
}
