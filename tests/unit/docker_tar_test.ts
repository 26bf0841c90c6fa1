/**
 * The tar writer checked with GNU tar (`tar -tvf`, `tar -xf`), and the
 * `.dockerignore` predicate.
 */

import assert from "node:assert/strict";
import {
  parseDockerignore,
  readDockerignore,
  tarDirectory,
  tarEntries,
  type TarEntry,
} from "../../lib/docker/mod.ts";

const enc = new TextEncoder();

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return await new Response(stream).bytes();
}

/**
 * Runs GNU tar in the C locale whatever the caller's, so names are bytes and
 * messages English; listings print names as stored (`--quoting-style=literal`,
 * not `h\303\251llo`) and times in UTC (`--utc`), not the caller's time zone.
 */
async function gnuTar(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("tar", {
    args: ["--quoting-style=literal", "--utc", ...args],
    cwd,
    env: { LC_ALL: "C" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `tar ${args.join(" ")} failed: ${stderr}`);
  assert.deepEqual(stderr, "", "GNU tar printed warnings");
  return new TextDecoder().decode(out.stdout);
}

/** Writes `archive`, lists it verbosely and extracts it into a new directory. */
async function listAndExtract(archive: Uint8Array): Promise<{ list: string[]; dir: string }> {
  const work = await Deno.makeTempDir({ prefix: "dn-test-tar-" });
  const file = `${work}/archive.tar`;
  await Deno.writeFile(file, archive);
  const list = (await gnuTar(["-tvf", file])).trimEnd().split("\n");
  const dir = `${work}/out`;
  await Deno.mkdir(dir);
  await gnuTar(["-xf", file, "-C", dir]);
  return { list, dir };
}

const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`; // splits into ustar prefix + name
const longName = `${longDir}/${"f".repeat(90)}.txt`; // 212 bytes: ustar prefix
const veryLongName = `${"g".repeat(120)}/${"h".repeat(130)}/${"i".repeat(40)}`; // > 256: PAX
const longComponent = "j".repeat(150); // one component > 100 bytes: PAX

Deno.test("tarEntries: GNU tar lists and extracts every entry byte for byte", async () => {
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  const big = new Uint8Array(200_001).map((_, i) => i % 251);
  const entries: TarEntry[] = [
    { type: "directory", name: "app" },
    { type: "file", name: "app/hello.txt", data: enc.encode("hello\n") },
    { type: "file", name: "app/empty", data: new Uint8Array() },
    { type: "file", name: "app/run.sh", mode: 0o755, data: enc.encode("#!/bin/sh\necho hi\n") },
    { type: "file", name: "app/random.bin", data: random },
    // streamed in uneven chunks, 512-byte boundaries not respected
    {
      type: "file",
      name: "app/big.bin",
      size: big.length,
      data: [big.subarray(0, 1), big.subarray(1, 70_000), big.subarray(70_000)],
    },
    { type: "directory", name: longDir },
    { type: "file", name: longName, data: enc.encode("long\n") },
    { type: "file", name: veryLongName, data: enc.encode("very long\n") },
    { type: "file", name: longComponent, data: enc.encode("component\n") },
    { type: "file", name: "app/héllo wörld.txt", data: enc.encode("utf-8 name\n") },
    { type: "symlink", name: "app/link", target: "hello.txt" },
    { type: "symlink", name: "app/longlink", target: `../${longName}` },
    { type: "file", name: "exactly-512", data: new Uint8Array(512).fill(0x61) },
  ];
  const archive = await bytesOf(tarEntries(entries));
  assert.deepEqual(archive.length % 512, 0);
  const { list, dir } = await listAndExtract(archive);

  const names = list.map((line) => line.replace(/ -> .*$/, "").split(/\s+/).slice(5).join(" "));
  assert.deepEqual(names, [
    "app/",
    "app/hello.txt",
    "app/empty",
    "app/run.sh",
    "app/random.bin",
    "app/big.bin",
    `${longDir}/`,
    longName,
    veryLongName,
    longComponent,
    "app/héllo wörld.txt",
    "app/link",
    "app/longlink",
    "exactly-512",
  ]);
  // mode, owner, size and mtime 0 (reproducible)
  assert.ok(list[0].startsWith("drwxr-xr-x 0/0 "), list[0]);
  assert.ok(list[2].startsWith("-rw-r--r-- 0/0 "), list[2]);
  assert.ok(/ 0 1970-01-01 00:00 app\/empty$/.test(list[2]), list[2]);
  assert.ok(list[3].startsWith("-rwxr-xr-x 0/0 "), list[3]);
  assert.ok(list[11].endsWith("app/link -> hello.txt"), list[11]);
  assert.ok(list[12].endsWith(`app/longlink -> ../${longName}`), list[12]);

  for (const entry of entries) {
    if (entry.type !== "file") continue;
    const got = await Deno.readFile(`${dir}/${entry.name}`);
    const want = entry.data instanceof Uint8Array ? entry.data : big;
    assert.deepEqual(got.length, want.length, entry.name);
    assert.ok(got.every((b, i) => b === want[i]), `${entry.name} differs`);
  }
  assert.deepEqual((await Deno.stat(`${dir}/app/run.sh`)).mode! & 0o777, 0o755);
  assert.deepEqual(await Deno.readLink(`${dir}/app/link`), "hello.txt");
  assert.deepEqual(await Deno.readTextFile(`${dir}/app/link`), "hello\n");
  await Deno.remove(`${dir}/..`, { recursive: true });
});

Deno.test("tarEntries: refuses bad names and data that does not match its size", async () => {
  for (const name of ["", "/etc/passwd", "a/../../b", "..", "a\0b"]) {
    await assert.rejects(
      () => bytesOf(tarEntries([{ type: "file", name, data: new Uint8Array() }])),
      (err: Error) => err instanceof TypeError && err.message.includes("bad entry name"),
    );
  }
  await assert.rejects(
    () =>
      bytesOf(tarEntries([{ type: "file", name: "short", size: 10, data: [enc.encode("abc")] }])),
    (err: Error) => err instanceof Error && err.message.includes("3 bytes instead of 10"),
  );
  await assert.rejects(
    () => bytesOf(tarEntries([{ type: "file", name: "long", size: 2, data: [enc.encode("abc")] }])),
    (err: Error) => err instanceof Error && err.message.includes("more data than its size"),
  );
  await assert.rejects(
    () => bytesOf(tarEntries([{ type: "file", name: "nosize", data: [enc.encode("abc")] }])),
    (err: Error) => err instanceof TypeError && err.message.includes("size is required"),
  );
});

async function makeTree(files: Record<string, string | null>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dn-test-ctx-" });
  for (const [path, content] of Object.entries(files)) {
    const full = `${root}/${path}`;
    if (content === null) {
      await Deno.mkdir(full, { recursive: true });
      continue;
    }
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return root;
}

Deno.test("tarDirectory: sorted, reproducible, byte-identical extraction", async () => {
  const root = await makeTree({
    "b.txt": "b\n",
    "a.txt": "a\n",
    "empty": "",
    "sub/z": "z\n",
    "sub/deeper/x": "x\n",
    "emptydir": null,
    [longName]: "long\n",
    "Z-upper": "upper sorts first\n",
  });
  await Deno.chmod(`${root}/a.txt`, 0o750);
  await Deno.symlink("a.txt", `${root}/alink`);
  await Deno.utime(`${root}/b.txt`, 1_700_000_000, 1_700_000_000);

  const first = await bytesOf(tarDirectory(root));
  const second = await bytesOf(tarDirectory(root));
  assert.deepEqual(first, second, "two archives of the same tree differ");

  const { list, dir } = await listAndExtract(first);
  const names = list.map((line) => line.replace(/ -> .*$/, "").split(/\s+/).slice(5).join(" "));
  assert.deepEqual(names, [
    "Z-upper",
    "a.txt",
    "alink",
    "b.txt",
    `${"d".repeat(60)}/`,
    `${longDir}/`,
    longName,
    "empty",
    "emptydir/",
    "sub/",
    "sub/deeper/",
    "sub/deeper/x",
    "sub/z",
  ]);
  assert.ok(list.every((line) => line.includes(" 1970-01-01 00:00 ")), "mtime is not 0");
  assert.ok(list[1].startsWith("-rwxr-x--- 0/0 "), list[1]);
  for (const path of ["a.txt", "b.txt", "empty", "sub/z", "sub/deeper/x", longName]) {
    assert.deepEqual(await Deno.readFile(`${dir}/${path}`), await Deno.readFile(`${root}/${path}`));
  }
  assert.deepEqual(await Deno.readLink(`${dir}/alink`), "a.txt");
  await Deno.remove(root, { recursive: true });
  await Deno.remove(`${dir}/..`, { recursive: true });
});

Deno.test("tarDirectory: leaves out what the filter ignores", async () => {
  const root = await makeTree({
    "Dockerfile": "FROM scratch\n",
    ".dockerignore": "*.log\nnode_modules\n!node_modules/keep.js\n.git\nsecret/\n",
    "main.ts": "x\n",
    "debug.log": "noise\n",
    "logs/app.log": "kept: patterns are rooted\n",
    "node_modules/a.js": "a\n",
    "node_modules/keep.js": "keep\n",
    "node_modules/deep/b.js": "b\n",
    ".git/HEAD": "ref\n",
    "secret/key": "k\n",
  });
  const archive = await bytesOf(tarDirectory(root, await readDockerignore(root)));
  const { list, dir } = await listAndExtract(archive);
  const names = list.map((line) => line.split(/\s+/).slice(5).join(" "));
  assert.deepEqual(names, [
    ".dockerignore",
    "Dockerfile",
    "logs/",
    "logs/app.log",
    "main.ts",
    "node_modules/keep.js",
  ]);
  assert.deepEqual(await Deno.readTextFile(`${dir}/node_modules/keep.js`), "keep\n");
  await Deno.remove(root, { recursive: true });
  await Deno.remove(`${dir}/..`, { recursive: true });
});

Deno.test("dockerignore: Docker's pattern rules", () => {
  const ignored = parseDockerignore(
    [
      "# a comment",
      "",
      "  *.log  ",
      "**/*.tmp",
      "./build/",
      "/dist",
      "docs/*.md",
      "!docs/README.md",
      "cache",
      "!cache/keep",
      "temp?",
      "Dockerfile",
      ".dockerignore",
      "../outside",
    ].join("\n"),
  );
  const cases: [string, boolean][] = [
    ["debug.log", true],
    ["logs/debug.log", false], // rooted, unlike .gitignore
    ["x.tmp", true],
    ["a/b/c.tmp", true],
    ["build", true],
    ["build/out.js", true], // a directory match covers its contents
    ["src/build", false],
    ["dist/app.js", true],
    ["docs/guide.md", true],
    ["docs/README.md", false], // the last matching line wins
    ["docs/sub/guide.md", false], // `*` does not cross `/`
    ["cache/x", true],
    ["cache/keep", false], // re-included below an excluded directory
    ["temp1", true],
    ["temp12", false],
    ["Dockerfile", false], // always sent
    [".dockerignore", false], // always sent
    ["main.ts", false],
  ];
  for (const [path, want] of cases) assert.deepEqual(ignored(path), want, path);
  assert.ok(ignored.mayIncludeUnder?.("cache"));
  assert.ok(!ignored.mayIncludeUnder?.("build"));
  assert.ok(!ignored.mayIncludeUnder?.("cache/sub"));
});

Deno.test("dockerignore: everything but an allow-list, custom Dockerfile", () => {
  const ignored = parseDockerignore("*\n!src\n!deno.json\n", {
    dockerfile: "./docker/app.Dockerfile",
  });
  assert.deepEqual(ignored("README.md"), true);
  assert.deepEqual(ignored("src"), false);
  assert.deepEqual(ignored("src/lib/x.ts"), false);
  assert.deepEqual(ignored("deno.json"), false);
  assert.deepEqual(ignored("docker"), true);
  assert.deepEqual(ignored("docker/app.Dockerfile"), false);
  assert.deepEqual(ignored("Dockerfile"), true);
  assert.ok(ignored.mayIncludeUnder?.("docker"), "must walk into docker/ for the Dockerfile");
});

Deno.test("dockerignore: no file ignores nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "dn-test-ctx-" });
  const ignored = await readDockerignore(root);
  assert.deepEqual(ignored("anything/at/all"), false);
  await Deno.remove(root);
});
