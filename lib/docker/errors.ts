/**
 * Errors thrown by the Docker Engine client.
 *
 * Every error is a {@linkcode DockerError}; the subclasses say what failed:
 * the engine could not be reached, an input was refused before any request,
 * or a build, push or pull reported an error in its progress stream.
 *
 * @module
 */

/** Where an engine error came from. */
export interface DockerErrorInit {
  /** HTTP status from the engine; 0 when there was no answer (or no request). */
  status: number;
  /** HTTP method of the request (`POST`), or `""` when none was sent. */
  method: string;
  /** Request path without the query (`/v1.41/containers/create`), or `""`. */
  path: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * An error answered by the Docker Engine, carrying the engine's own `message`.
 *
 * @example
 * ```ts ignore
 * try {
 *   await docker.startContainer("missing");
 * } catch (err) {
 *   if (err instanceof DockerError && err.status === 404) console.log(err.message);
 * }
 * ```
 */
export class DockerError extends Error {
  /** HTTP status from the engine; 0 when there was no answer (or no request). */
  readonly status: number;
  /** HTTP method of the request, or `""`. */
  readonly method: string;
  /** Request path without the query, or `""`. */
  readonly path: string;

  /** Makes an error with the engine's `message` and where it came from. */
  constructor(message: string, init: DockerErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "DockerError";
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
  }
}

/** The engine could not be reached: socket missing, refused or closed. */
export class DockerUnavailableError extends DockerError {
  /** Makes the error; `message` names the socket and the reason. */
  constructor(message: string, init: DockerErrorInit) {
    super(message, init);
    this.name = "DockerUnavailableError";
  }
}

/** An input (name, image reference, option) was refused before any request was sent. */
export class DockerInputError extends DockerError {
  /** Makes the error; `message` names the bad input. */
  constructor(message: string) {
    super(message, { status: 0, method: "", path: "" });
    this.name = "DockerInputError";
  }
}

/** A build failed; `message` is the engine's (`unknown instruction: FORM`). */
export class DockerBuildError extends DockerError {
  /** Makes the error. */
  constructor(message: string, init: DockerErrorInit) {
    super(message, init);
    this.name = "DockerBuildError";
  }
}

/** A push failed (`unauthorized: authentication required`, no such image, registry down). */
export class DockerPushError extends DockerError {
  /** Makes the error. */
  constructor(message: string, init: DockerErrorInit) {
    super(message, init);
    this.name = "DockerPushError";
  }
}

/** A pull (or import) failed (`manifest unknown`, `unauthorized`, registry down). */
export class DockerPullError extends DockerError {
  /** Makes the error. */
  constructor(message: string, init: DockerErrorInit) {
    super(message, init);
    this.name = "DockerPullError";
  }
}
