/**
 * `dn __complete apps`, the hidden helper of the completion scripts: app
 * names from control, one a line; nothing and exit 0 whenever control cannot
 * tell (unreachable, no token, refused, too slow); never listed or completed.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { runCli } from "../../cli/cli.ts";
import { completionScript, SHELLS } from "../../cli/commands/completion.ts";
import { COMMANDS } from "../../cli/commands/mod.ts";
import { COMPLETE_TIMEOUT_MS } from "../../cli/commands/complete.ts";
import { APP_DIR, NOW, TOKEN, World } from "./cli_fixtures/world.ts";

const QUIET = { code: 0, out: [], err: [] };

Deno.test("dn __complete apps prints every app name from control, one a line", async () => {
  const world = new World();
  world.addApp({ name: "blog" });
  world.addApp({ name: "hello-world", status: "running" });
  assertEquals(await world.run(["__complete", "apps"]), {
    code: 0,
    out: ["blog", "hello-world"],
    err: [],
  });
  assertEquals(world.requests, [{ method: "GET", path: "/v1/apps", body: undefined }]);
  assertEquals(await new World().run(["__complete", "apps"]), QUIET, "no apps: nothing");
});

Deno.test("dn __complete apps prints nothing and exits 0 when control cannot tell", async () => {
  const down = new World();
  down.addApp({ name: "blog" });
  down.controlDown = true;
  assertEquals(await down.run(["__complete", "apps"]), QUIET, "unreachable");
  const refused = new World();
  refused.addApp({ name: "blog" });
  refused.env.DN_TOKEN = "wrong-token";
  assertEquals(await refused.run(["__complete", "apps"]), QUIET, "token refused");
  const noToken = new World();
  noToken.env.DN_TOKEN = undefined;
  assertEquals(await noToken.run(["__complete", "apps"]), QUIET, "no token");
  assertEquals(noToken.requests, [], "no token: nothing sent");
  const badConfig = new World();
  badConfig.env.DN_CONFIG = "/nonexistent/dn.json";
  assertEquals(await badConfig.run(["__complete", "apps"]), QUIET, "unreadable config");
  assertEquals(await new World().run(["__complete", "hosts"]), QUIET, "unknown word list");
});

Deno.test("dn __complete apps gives up quietly after about a second", async () => {
  let signal: AbortSignal | undefined;
  const hanging = (_: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      signal = init?.signal ?? undefined;
      signal?.addEventListener("abort", () => reject(signal?.reason));
    });
  const out: string[] = [];
  const started = performance.now();
  const code = await runCli(["__complete", "apps"], {
    env: { DN_CONTROL_URL: "http://127.0.0.1:7070", DN_TOKEN: TOKEN, HOME: "/nonexistent-home" },
    cwd: APP_DIR,
    now: () => NOW,
    io: { out: (l) => out.push(l), err: (l) => out.push(l) },
    fetch: hanging,
    images: () => Promise.reject(new Error("no engine")),
  });
  const elapsed = performance.now() - started;
  assertEquals({ code, out }, { code: 0, out: [] });
  assert(signal?.aborted, "the request was abandoned");
  assert(elapsed >= COMPLETE_TIMEOUT_MS - 50 && elapsed < 3000, `took ${elapsed} ms`);
});

Deno.test("dn __complete is not in dn help nor among the completed commands", async () => {
  const help = await new World().run(["help"]);
  assert(!help.out.join("\n").includes("__complete"), "dn help");
  assert(!COMMANDS.some((c) => c.name === "__complete"), "command table");
  for (const shell of SHELLS) {
    const script = completionScript(shell, COMMANDS);
    const calls = script.split("\n").filter((l) => l.includes("__complete"));
    assert(calls.every((l) => l.includes("dn __complete apps")), `${shell}: only as the helper`);
  }
});
