/**
 * `dn completion bash|zsh|fish`: the scripts list every command and each
 * command's flags from the tables, and, run in the real shells, complete
 * what a user types (bash, zsh and fish: `scripts/test` installs the last two).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { COMMANDS } from "../../cli/commands/mod.ts";
import { completionScript, SHELLS } from "../../cli/commands/completion.ts";
import { FLAGS } from "../../cli/command.ts";
import { World } from "./cli_fixtures/world.ts";

/**
 * Runs a shell with only PATH and HOME set: the C locale and no terminal,
 * whatever the caller's (with a LANG naming a locale this machine lacks, bash
 * prints a setlocale warning, which would read as a candidate).
 */
async function run(binary: string, args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(binary, {
    args,
    stdin: "null",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: "/tmp" },
  }).output();
  return {
    code: out.code,
    out: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

async function script(shell: string): Promise<string> {
  const r = await new World().run(["completion", shell]);
  assertEquals(r.code, 0, r.err.join("\n"));
  return r.out.join("\n") + "\n";
}

Deno.test("dn completion prints a script naming every command and flag", async () => {
  for (const shell of SHELLS) {
    const text = await script(shell);
    assertEquals(text, completionScript(shell, COMMANDS));
    for (const command of COMMANDS) {
      assert(text.includes(command.name), `${shell}: ${command.name}`);
      for (const flag of command.flags) {
        const spelled = shell === "fish" ? `-l ${flag}` : `--${flag}`;
        assert(text.includes(spelled), `${shell}: --${flag}`);
      }
    }
  }
  for (const flag of Object.keys(FLAGS)) {
    assert((await script("bash")).includes(`--${flag}`), `bash: --${flag}`);
  }
});

Deno.test("dn completion refuses a missing or unknown shell (exit 2)", async () => {
  const none = await new World().run(["completion"]);
  assertEquals(none.code, 2);
  assertEquals(none.err[0], "dn completion needs a SHELL");
  const unknown = await new World().run(["completion", "tcsh"]);
  assertEquals(unknown.code, 2);
  assertEquals(unknown.err[0], 'unknown shell "tcsh": use bash, zsh, fish');
});

/**
 * Stands in for the `dn` the scripts call for app names: prints two apps for
 * `dn __complete apps` and notes every call in `$DN_STUB_LOG`.
 */
const STUB_DN = `dn() { echo "$*" >>"$DN_STUB_LOG"; [ "$*" = "__complete apps" ] && ` +
  `printf '%s\\n' blog hello-world; }`;

/** Candidates bash offers for the words typed (the last word is being completed). */
async function bashComplete(words: string[], cwd?: string): Promise<string[]> {
  return (await bashCompleteCalls(words, cwd)).candidates;
}

/** {@link bashComplete}, with the calls the script made to `dn` (the stub). */
async function bashCompleteCalls(
  words: string[],
  cwd?: string,
): Promise<{ candidates: string[]; calls: string[] }> {
  const file = await Deno.makeTempFile({ suffix: ".bash" });
  try {
    await Deno.writeTextFile(file, await script("bash"));
    const quoted = words.map((w) => `'${w.replaceAll("'", "'\\''")}'`).join(" ");
    const program = `${cwd ? `cd '${cwd}' && ` : ""}source '${file}' && ${STUB_DN} && ` +
      `DN_STUB_LOG='${file}.log' COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && ` +
      `_dn && printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await run("bash", ["-c", program]);
    assertEquals(r.code, 0, r.out);
    const calls = await Deno.readTextFile(`${file}.log`).catch(() => "");
    return { candidates: lines(r.out).sort(), calls: lines(calls) };
  } finally {
    await Deno.remove(file);
    await Deno.remove(`${file}.log`).catch(() => {});
  }
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

Deno.test("bash: commands, a command's flags, directories after -C, words after help", async () => {
  assertEquals(await bashComplete(["dn", "lo"]), ["logs"]);
  assertEquals(await bashComplete(["dn", "st"]), ["start", "status", "stop"]);
  assertEquals(await bashComplete(["dn", "logs", "--t"]), ["--tail", "--token"]);
  assertEquals(await bashComplete(["dn", "status", "--f"]), []);
  assertEquals(await bashComplete(["dn", "rollback", "--a"]), ["--app", "--app-config"]);
  assertEquals(await bashComplete(["dn", "build", "--a"]), ["--app-config"]);
  assertEquals(await bashComplete(["dn", "logs", "-"]).then((l) => l.includes("-f")), true);
  assertEquals(await bashComplete(["dn", "help", "re"]), ["remove"]);
  assertEquals(await bashComplete(["dn", "completion", ""]), ["bash", "fish", "zsh"]);
  // A flag's value is not taken for the command.
  assertEquals(await bashComplete(["dn", "-C", "apps", "sta"]), ["start", "status"]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/app one`);
    await Deno.writeTextFile(`${dir}/afile`, "");
    assertEquals(await bashComplete(["dn", "logs", "-C", "a"], dir), ["app one"]);
    assertEquals(await bashComplete(["dn", "logs", "--app-config", "af"], dir), ["afile"]);
    assertEquals(await bashComplete(["dn", "logs", "--since", ""], dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bash: app names from dn __complete apps after --app and as NAME, and only there", async () => {
  const text = await script("bash");
  assert(text.includes("_dn_apps() {\n  dn __complete apps </dev/null 2>/dev/null\n}"), "helper");
  assert(text.includes('  --app)\n    mapfile -t COMPREPLY < <(compgen -W "$(_dn_apps)"'), "--app");
  assert(text.includes('  logs|remove|start|status|stop) words="$(_dn_apps)" ;;'), "NAME");
  const apps = { candidates: ["blog", "hello-world"], calls: ["__complete apps"] };
  assertEquals(await bashCompleteCalls(["dn", "status", ""]), apps);
  assertEquals(await bashCompleteCalls(["dn", "env", "--app", ""]), apps);
  assertEquals(await bashCompleteCalls(["dn", "rollback", "--app", "he"]), {
    candidates: ["hello-world"],
    calls: ["__complete apps"],
  });
  for (const command of ["start", "stop", "remove", "logs"]) {
    assertEquals(await bashComplete(["dn", command, "b"]), ["blog"], command);
  }
  const none = { candidates: [], calls: [] };
  assertEquals(await bashCompleteCalls(["dn", "env", ""]), none, "env takes no NAME");
  assertEquals(await bashCompleteCalls(["dn", "rollback", ""]), none, "rollback takes vN");
  assertEquals(await bashCompleteCalls(["dn", "__"]), none, "the helper is not a command");
  assertEquals(
    await bashCompleteCalls(["dn", "status", "--j"]),
    { candidates: ["--json"], calls: [] },
    "flags: no call",
  );
});

Deno.test({
  name: "fish: the script loads and completes commands, flags and app names",
  fn: async () => {
    const file = await Deno.makeTempFile({ suffix: ".fish" });
    try {
      await Deno.writeTextFile(file, await script("fish"));
      assertEquals((await run("fish", ["-n", file])).code, 0);
      const stub =
        `function dn; test "$argv" = "__complete apps"; and printf '%s\\n' blog hello-world; end`;
      const complete = async (line: string) =>
        lines((await run("fish", ["-c", `${stub}; source ${file}; complete -C'${line}'`])).out)
          .map((l) => l.split("\t")[0]).sort();
      assertEquals(await complete("dn lo"), ["logs"]);
      assert((await complete("dn logs --")).includes("--follow"));
      assertEquals(await complete("dn completion "), ["bash", "fish", "zsh"]);
      assertEquals(await complete("dn status "), ["blog", "hello-world"]);
      assertEquals(await complete("dn env --app "), ["blog", "hello-world"]);
      assertEquals(await complete("dn env "), []);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "zsh: the script parses, defines _dn, and _dn_apps offers dn __complete apps",
  fn: async () => {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, await script("zsh"));
      assertEquals((await run("zsh", ["-n", file])).code, 0);
      const r = await run("zsh", [
        "-f",
        "-c",
        `autoload -Uz compinit && compinit -u -D && source ${file} && whence -w _dn && print -r -- $_comps[dn]`,
      ]);
      assertEquals(r.out.trim().split("\n"), ["_dn: function", "_dn"]);
      const apps = await run("zsh", [
        "-f",
        "-c",
        `autoload -Uz compinit && compinit -u -D && source ${file} && ` +
        `dn() { [[ "$*" == "__complete apps" ]] && print -l blog 'hello world' } && ` +
        `compadd() { print -l -- \${(P)\${@[-1]}} } && _dn_apps`,
      ]);
      assertEquals(lines(apps.out), ["blog", "hello world"]);
      const text = await script("zsh");
      assert(text.includes("'--app=[act on app NAME; no App.config is read]:NAME:_dn_apps'"));
      assert(text.includes("    status)\n") && text.includes("'1:NAME:_dn_apps'"));
    } finally {
      await Deno.remove(file);
    }
  },
});
