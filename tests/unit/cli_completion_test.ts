/**
 * `dn completion bash|zsh|fish`: the scripts list every command and each
 * command's flags from the tables, and, run in the real shells, complete
 * what a user types (bash always; zsh and fish when installed).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { COMMANDS } from "../../cli/commands/mod.ts";
import { completionScript, SHELLS } from "../../cli/commands/completion.ts";
import { FLAGS } from "../../cli/command.ts";
import { World } from "./cli_fixtures/world.ts";

function has(binary: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${binary}`] }).outputSync().success;
  } catch {
    return false;
  }
}

async function run(binary: string, args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(binary, { args, stdin: "null", env: { HOME: "/tmp" } })
    .output();
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

/** Candidates bash offers for the words typed (the last word is being completed). */
async function bashComplete(words: string[], cwd?: string): Promise<string[]> {
  const file = await Deno.makeTempFile({ suffix: ".bash" });
  try {
    await Deno.writeTextFile(file, await script("bash"));
    const quoted = words.map((w) => `'${w.replaceAll("'", "'\\''")}'`).join(" ");
    const program = `${cwd ? `cd '${cwd}' && ` : ""}source '${file}' && ` +
      `COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && _dn && ` +
      `printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await run("bash", ["-c", program]);
    assertEquals(r.code, 0, r.out);
    return r.out.split("\n").filter((l) => l !== "").sort();
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("bash: commands, a command's flags, directories after -C, words after help", async () => {
  assertEquals(await bashComplete(["dn", "lo"]), ["logs"]);
  assertEquals(await bashComplete(["dn", "st"]), ["start", "status", "stop"]);
  assertEquals(await bashComplete(["dn", "logs", "--t"]), ["--tail", "--token"]);
  assertEquals(await bashComplete(["dn", "status", "--f"]), []);
  assertEquals(await bashComplete(["dn", "rollback", "--a"]), ["--app"]);
  assertEquals(await bashComplete(["dn", "build", "--a"]), []);
  assertEquals(await bashComplete(["dn", "status", "--app", ""]), []);
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
    assertEquals(await bashComplete(["dn", "logs", "--config", "af"], dir), ["afile"]);
    assertEquals(await bashComplete(["dn", "logs", "--since", ""], dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "fish: the script loads and completes commands and flags",
  ignore: !has("fish"),
  fn: async () => {
    const file = await Deno.makeTempFile({ suffix: ".fish" });
    try {
      await Deno.writeTextFile(file, await script("fish"));
      assertEquals((await run("fish", ["-n", file])).code, 0);
      const complete = async (line: string) =>
        (await run("fish", ["-c", `source ${file}; complete -C'${line}'`])).out.split("\n")
          .filter((l) => l !== "").map((l) => l.split("\t")[0]).sort();
      assertEquals(await complete("dn lo"), ["logs"]);
      assert((await complete("dn logs --")).includes("--follow"));
      assertEquals(await complete("dn completion "), ["bash", "fish", "zsh"]);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "zsh: the script parses and defines _dn",
  ignore: !has("zsh"),
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
    } finally {
      await Deno.remove(file);
    }
  },
});
