/**
 * `dn run`/`update` output: without `--verbose`, neither the docker build
 * log nor "Login Succeeded"; on a terminal a progress line shows the build
 * step and the layers and bytes pushed; piped, only the digest and result
 * lines. With `--verbose`, the engine's whole output (the seed's transcript).
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { World } from "./cli_fixtures/world.ts";

const DIGEST = `sha256:${"d1".repeat(32)}`;

/** A line with its unique build tag (`v1-0123456789ab`) written `v1-BUILD`. */
function anyBuild(line: string): string {
  return line.replace(/\b(v[0-9]+)-[0-9a-f]{12}\b/g, "$1-BUILD");
}

Deno.test("piped: dn run prints the digest and result lines only", async () => {
  const world = new World();
  const r = await world.run(["run"]);
  assertEquals({ ...r, out: r.out.map(anyBuild) }, {
    code: 0,
    out: [
      `v1-BUILD: digest: ${DIGEST} size: 528`,
      "hello-world (hello-world.dn.local) created",
      "hello-world (hello-world.dn.local) started",
    ],
    err: [],
  });
});

Deno.test("on a terminal: a progress line with the build step, layers and bytes", async () => {
  const world = new World();
  world.progress = [];
  const r = await world.run(["run"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertEquals(r.out.length, 3);
  const shown = world.progress.filter((p) => p !== "");
  assertEquals(shown.slice(0, 3), [
    "building hello-world:v1: step 1/1",
    "pushing hello-world:v1: 0/1 layers, 1.5MB/4MB",
    "pushing hello-world:v1: 1/1 layers",
  ]);
  assertEquals(world.progress.at(-1), "", "the progress line is cleared at the end");
});

Deno.test("--verbose: the whole build and push output, Login Succeeded too", async () => {
  const world = new World();
  const r = await world.run(["run", "--verbose"]);
  for (
    const line of [
      "Step 1/1 : FROM scratch",
      "Login Succeeded",
      "pushing 127.0.0.1:5055/hello-world:v1-BUILD",
    ]
  ) {
    assertEquals(r.out.map(anyBuild).includes(line), true, line);
  }
  assertEquals(r.out.length, 12);
});

Deno.test("dn build says what it tagged", async () => {
  const r = await new World().run(["build"]);
  assertEquals(r.out, ["Successfully tagged 127.0.0.1:5055/hello-world:v1"]);
});
