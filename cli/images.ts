/**
 * The image steps commands share: which version to build, build, push (with
 * a credentials check first), and "build and push unless already built".
 *
 * Pushes never overwrite a tag another update may own: every push goes to a
 * tag of its own, `v<N>-<build id>` (12 random hex digits), and control is
 * told the manifest digest, which is what hosts run. An update control
 * refuses leaves only that unique tag behind, which nothing runs.
 *
 * @module
 */

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

/** A tag for one build of `version` that no other build takes: `v<version>-<12 hex digits>`. */
export function buildTag(version: number): string {
  const id = crypto.getRandomValues(new Uint8Array(6));
  return `v${version}-${Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const BUILD_TAG = /^v[0-9]+-[0-9a-f]{12}$/;

/** `v2` of `v2-0123456789ab`: how progress lines name a build. */
function versionOf(tag: string): string {
  return tag.replace(/-[0-9a-f]{12}$/, "");
}

/**
 * Builds the app directory into `<registry>/<name>:<tag>` (`v<version>` for
 * `dn build`, a {@link buildTag} for commands that push at once), showing the
 * engine's progress (cli/image_output.ts).
 */
export async function buildImage(
  ctx: Context,
  app: AppConfig,
  tag: string,
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
  const ref = `${repository(ctx, app.name)}:${tag}`;
  const images = await ctx.images();
  const output = new ImageOutput(ctx, `${app.name}:${versionOf(tag)}`);
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
 * Pushes the local image `<registry>/<name>:<built>` under a tag of its own
 * (`built` itself when it is a {@link buildTag}, else a new one): checks the
 * credentials with the registry (`Login Succeeded` with `--verbose`), shows
 * the engine's progress, prints the digest line, and returns the manifest
 * digest.
 */
export async function pushImage(ctx: Context, name: string, built: string): Promise<string> {
  const config = ctx.config();
  const repo = repository(ctx, name);
  const images = await ctx.images();
  if (await images.inspect(`${repo}:${built}`) === null) {
    throw new CliError(`image ${repo}:${built} is not built; run dn build first`);
  }
  let tag = built;
  if (!BUILD_TAG.test(tag)) {
    tag = buildTag(Number(versionOf(built).replace(/^v/, "")));
    await images.tag(`${repo}:${built}`, repo, tag);
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
  const output = new ImageOutput(ctx, `${name}:${versionOf(tag)}`);
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
      : checkRegistryLogin(registry, registryUser, registryPassword, ctx.registryFetch());
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
 * Builds `<registry>/<name>:v<version>-<build id>` (the engine's layer cache
 * makes an unchanged build quick; the tag is this build's alone, so a
 * concurrent build on the same engine cannot swap the image) and pushes it.
 * Returns the digest.
 */
export async function ensurePushed(
  ctx: Context,
  app: AppConfig,
  version: number,
): Promise<string> {
  await checkLogin(ctx);
  const tag = buildTag(version);
  await buildImage(ctx, app, tag);
  return await pushImage(ctx, app.name, tag);
}
