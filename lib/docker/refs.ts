/**
 * Validation of the names the Docker client puts in URLs: container names and
 * ids, image references, tags. Anything else is refused with a
 * {@linkcode DockerInputError} before a request is made.
 *
 * @module
 */

import { DockerInputError } from "./errors.ts";

const CONTAINER = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const DOMAIN_PART = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]{1,5})?`;
const PATH_PART = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG_SOURCE = "[\\w][\\w.-]{0,127}";
const DIGEST_SOURCE = "sha256:[a-f0-9]{64}";
const REPOSITORY = new RegExp(`^(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*$`);
const TAG = new RegExp(`^${TAG_SOURCE}$`);
const DIGEST = new RegExp(`^${DIGEST_SOURCE}$`);
const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{12,64}$/;
const MAX_REPOSITORY = 255;

/** An image reference split into its parts. */
export interface ImageRef {
  /** `registry-host[:port]/path/name`, or an image id (`sha256:…`). */
  repository: string;
  /** The tag, if given. */
  tag?: string;
  /** The content digest (`sha256:…`), if given. */
  digest?: string;
}

/**
 * True when `name` is a valid container name or id
 * (`[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`).
 *
 * @example
 * ```ts
 * import { isContainerName } from "./refs.ts";
 *
 * isContainerName("dn-vaermina-hello-world-v2"); // true
 * isContainerName("../etc"); // false
 * ```
 */
export function isContainerName(name: unknown): name is string {
  return typeof name === "string" && CONTAINER.test(name);
}

/**
 * True when `repository` is a valid repository name: `[host[:port]/]path`,
 * lower-case path components.
 *
 * @example
 * ```ts
 * import { isRepository } from "./refs.ts";
 *
 * isRepository("127.0.0.1:5055/hello-world"); // true
 * isRepository("Hello"); // false
 * ```
 */
export function isRepository(repository: unknown): repository is string {
  return typeof repository === "string" && repository.length <= MAX_REPOSITORY &&
    REPOSITORY.test(repository);
}

/**
 * True when `tag` is a valid image tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
 *
 * @example
 * ```ts
 * import { isTag } from "./refs.ts";
 *
 * isTag("v2"); // true
 * isTag("-x"); // false
 * ```
 */
export function isTag(tag: unknown): tag is string {
  return typeof tag === "string" && TAG.test(tag);
}

/**
 * Parses an image reference: `repository[:tag][@sha256:digest]`, or an image
 * id (`sha256:` + 64 hex, or 12–64 hex). Throws {@linkcode DockerInputError}
 * when it is not one.
 *
 * @example
 * ```ts
 * import { parseImageRef } from "./refs.ts";
 *
 * parseImageRef("127.0.0.1:5055/hello-world:v2");
 * // { repository: "127.0.0.1:5055/hello-world", tag: "v2" }
 * ```
 */
export function parseImageRef(ref: unknown): ImageRef {
  if (typeof ref !== "string") throw new DockerInputError("image reference must be a string");
  if (IMAGE_ID.test(ref) && (ref.startsWith("sha256:") ? ref.length === 71 : true)) {
    return { repository: ref };
  }
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw badRef(ref);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw badRef(ref);
  }
  // `sha256:abc` would be the repository `sha256` tagged `abc`: a mistyped id, refused.
  if (!isRepository(rest) || rest === "sha256") throw badRef(ref);
  const out: ImageRef = { repository: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * True when `ref` is an image reference {@linkcode parseImageRef} accepts.
 *
 * @example
 * ```ts
 * import { isImageRef } from "./refs.ts";
 *
 * isImageRef("dn/deno:2.9.6"); // true
 * isImageRef("dn/deno:2.9.6?x=1"); // false
 * ```
 */
export function isImageRef(ref: unknown): ref is string {
  try {
    parseImageRef(ref);
    return true;
  } catch {
    return false;
  }
}

/** Throws unless `name` is a container name or id. */
export function checkContainerName(name: unknown): string {
  if (!isContainerName(name)) {
    throw new DockerInputError(`invalid container name or id: ${show(name)}`);
  }
  return name;
}

/** Throws unless `ref` is an image reference; returns it unchanged. */
export function checkImageRef(ref: unknown): string {
  parseImageRef(ref);
  return ref as string;
}

/** Throws unless `repository` is a repository name. */
export function checkRepository(repository: unknown): string {
  if (!isRepository(repository)) {
    throw new DockerInputError(`invalid image repository: ${show(repository)}`);
  }
  return repository;
}

/** Throws unless `tag` is a tag. */
export function checkTag(tag: unknown): string {
  if (!isTag(tag)) throw new DockerInputError(`invalid image tag: ${show(tag)}`);
  return tag;
}

function badRef(ref: string): DockerInputError {
  return new DockerInputError(`invalid image reference: ${show(ref)}`);
}

/** Shows a bad value briefly and safely in a message. */
export function show(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
