/**
 * The image steps commands share: which version to build, build, push (with
 * a credentials check first), and "build and push unless already built".
 *
 * @module
 */

import { imageRef } from "../lib/apps.ts";
import type { AppConfig } from "./app_config.ts";
import type { Context } from "./context.ts";
import { CliError } from "./errors.ts";
import { ImageOutput } from "./image_output.ts";
import type { RegistryAuth } from "./image_backend.ts";
import { checkRegistryLogin, type LoginResult } from "./registry.ts";

/**
 * The version the next build of `app` gets: 1 when control does not know the
 * app, otherwise the highest version so far + 1 (after a rollback that is
 * not the current version + 1).
 */
export async function nextVersion(ctx: Context, name: string): Promise<number> {
  const existing = await ctx.control().findApp(name);
  return existing ? followingVersion(existing) : 1;
}

/** The version an update of `app` builds: its highest version so far + 1. */
export function followingVersion(app: { version: number; latestVersion?: number }): number {
  return (app.latestVersion ?? app.version) + 1;
}

/** The registry repository of an app: `<registry>/<name>`. */
export function repository(ctx: Context, name: string): string {
  return `${ctx.config().registry}/${name}`;
}

/**
 * Builds the app directory into `<registry>/<name>:v<version>`, showing the
 * engine's progress (cli/image_output.ts).
 */
export async function buildImage(
  ctx: Context,
  app: AppConfig,
  version: number,
): Promise<{ ref: string; imageId: string }> {
  const dir = ctx.appDir();
  try {
    const info = await Deno.stat(`${dir}/Dockerfile`);
    if (!info.isFile) throw new Deno.errors.NotFound();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CliError(`no Dockerfile in ${dir} (give the app directory with -C DIR)`);
    }
    throw e;
  }
  const ref = imageRef(ctx.config().registry, app.name, version);
  const images = await ctx.images();
  const output = new ImageOutput(ctx, `${app.name}:v${version}`);
  try {
    const { imageId } = await images.build(dir, ref, output.build);
    return { ref, imageId };
  } catch (e) {
    output.buildFailed();
    throw e;
  } finally {
    output.done();
  }
}

/** Words in registry errors that mean the credentials were refused. */
const AUTH_FAILURE =
  /unauthori[sz]ed|authentication required|no basic auth credentials|requested access to the resource is denied/i;

/**
 * Pushes `<registry>/<name>:v<version>`: checks the credentials with the
 * registry (`Login Succeeded` with `--verbose`), shows the engine's progress,
 * prints the digest line, and returns the manifest digest.
 */
export async function pushImage(ctx: Context, name: string, version: number): Promise<string> {
  const config = ctx.config();
  const repo = repository(ctx, name);
  const tag = `v${version}`;
  const images = await ctx.images();
  if (await images.inspect(`${repo}:${tag}`) === null) {
    throw new CliError(`image ${repo}:${tag} is not built; run dn build first`);
  }
  const auth: RegistryAuth = {
    username: config.registryUser,
    password: config.registryPassword,
    serverAddress: config.registry,
  };
  const verbose = ctx.options.verbose === true;
  if (await checkLogin(ctx) === "ok" && verbose) ctx.out("Login Succeeded");
  if (verbose) ctx.out(`pushing ${repo}:${tag}`);
  let digestShown = false;
  const output = new ImageOutput(ctx, `${name}:${tag}`);
  let digest: string;
  try {
    ({ digest } = await images.push(repo, tag, auth, (text) => {
      if (text.includes("digest: sha256:")) digestShown = true;
      output.push(text);
    }, output.bytes));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (AUTH_FAILURE.test(message)) throw credentialsError(ctx);
    throw e;
  } finally {
    output.done();
  }
  if (!digestShown) ctx.out(`${tag}: digest: ${digest}`);
  return digest;
}

const logins = new WeakMap<Context, Promise<LoginResult>>();

/**
 * Checks the registry credentials once per command run (so commands that
 * build and push can check before building); throws a one-line error when
 * the registry refuses them.
 */
export function checkLogin(ctx: Context): Promise<LoginResult> {
  let login = logins.get(ctx);
  if (!login) {
    const { registry, registryUser, registryPassword } = ctx.config();
    login = registryUser === ""
      ? Promise.resolve<LoginResult>("unknown")
      : checkRegistryLogin(registry, registryUser, registryPassword, ctx.deps.fetch);
    logins.set(ctx, login);
  }
  return login.then((result) => {
    if (result === "rejected") throw credentialsError(ctx);
    return result;
  });
}

function credentialsError(ctx: Context): CliError {
  const { registry, registryUser } = ctx.config();
  return new CliError(
    registryUser === ""
      ? `registry ${registry} needs credentials: set registryUser and registryPassword ` +
        `(DN_REGISTRY_USER, DN_REGISTRY_PASSWORD)`
      : `registry ${registry} rejected the credentials of user ${JSON.stringify(registryUser)}: ` +
        `check registryUser and registryPassword`,
  );
}

/**
 * Builds `<registry>/<name>:v<version>` (the engine's layer cache makes an
 * unchanged build quick) and pushes it. Returns the digest.
 */
export async function ensurePushed(
  ctx: Context,
  app: AppConfig,
  version: number,
): Promise<string> {
  await checkLogin(ctx);
  await buildImage(ctx, app, version);
  return await pushImage(ctx, app.name, version);
}
