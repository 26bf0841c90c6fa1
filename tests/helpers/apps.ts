/**
 * App directories for end-to-end tests: a copy of an app's Dockerfile and
 * main.ts with an App.config of the test's own.
 *
 * @module
 */

import { ROOT } from "./network.ts";

/**
 * Copies `source` (relative to the repository: `tests/fixtures/probe`) into
 * `root/name` with an App.config naming `name`, host `name.dn.test`, port
 * 8000 and the `extra` lines; returns the directory.
 */
export async function appCopy(
  source: string,
  root: string,
  name: string,
  extra = "",
): Promise<string> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir);
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/${source}/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME ${name}\nAPP_HOSTNAME ${name}.dn.test\nAPP_PORT 8000\n${extra}`,
  );
  return dir;
}
