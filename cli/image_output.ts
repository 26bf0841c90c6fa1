/**
 * What `dn build`, `push`, `create`, `run` and `update` print while images
 * are built and pushed. With `--verbose`: the engine's whole output, as the
 * docker CLI prints it (the seed's transcript). Without: a progress line on
 * a terminal (the build step; layers and bytes pushed) and only the push's
 * digest line on standard output, so piped output is quiet; when a build
 * fails, its last lines go to standard error before the one-line error.
 *
 * @module
 */

import type { Context } from "./context.ts";
import { humanSize } from "./format/views.ts";

/** Build output lines kept to show when a build fails. */
export const FAILED_BUILD_LINES = 15;

/** Layer statuses that mean the layer is in the registry. */
const LAYER_DONE = /^(Pushed|Layer already exists|Mounted from .*)$/;

/** The output of one build or push. */
export class ImageOutput {
  readonly #ctx: Context;
  readonly #what: string;
  readonly #tail: string[] = [];
  readonly #layers = new Map<string, { done: boolean; current: number; total: number }>();

  /** Output for building or pushing `what` (`hello-world:v2`). */
  constructor(ctx: Context, what: string) {
    this.#ctx = ctx;
    this.#what = what;
  }

  get #verbose(): boolean {
    return this.#ctx.options.verbose === true;
  }

  /** A chunk of build output (one or more lines). */
  build = (text: string): void => {
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trimEnd();
      if (line.trim() === "") continue;
      if (this.#verbose) {
        this.#ctx.out(line);
        continue;
      }
      this.#tail.push(line);
      if (this.#tail.length > FAILED_BUILD_LINES) this.#tail.shift();
      const step = /^Step (\d+\/\d+) :/.exec(line);
      if (step) this.#ctx.progress(`building ${this.#what}: step ${step[1]}`);
    }
  };

  /** After a failed build: its last lines on standard error (the error itself follows). */
  buildFailed(): void {
    this.#ctx.progress("");
    if (this.#verbose) return;
    for (const line of this.#tail) this.#ctx.err(line);
  }

  /** A line of push output (`id: status`, or the digest line). */
  push = (text: string): void => {
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trimEnd();
      if (line.trim() === "") continue;
      if (this.#verbose || line.includes("digest: sha256:")) {
        this.#ctx.progress("");
        this.#ctx.out(line);
        continue;
      }
      const m = /^([0-9a-f]{12}): (.+)$/.exec(line);
      if (!m) continue;
      const layer = this.#layer(m[1]);
      layer.done = LAYER_DONE.test(m[2]);
      this.#showPush();
    }
  };

  /** Bytes of one layer pushed so far. */
  bytes = (id: string, current: number, total: number): void => {
    const layer = this.#layer(id);
    layer.current = current;
    layer.total = total;
    this.#showPush();
  };

  /** Clears the progress line. */
  done(): void {
    this.#ctx.progress("");
  }

  #layer(id: string) {
    let layer = this.#layers.get(id);
    if (!layer) {
      layer = { done: false, current: 0, total: 0 };
      this.#layers.set(id, layer);
    }
    return layer;
  }

  #showPush(): void {
    if (this.#verbose) return;
    const layers = [...this.#layers.values()];
    const done = layers.filter((l) => l.done).length;
    const sending = layers.filter((l) => !l.done && l.total > 0);
    const bytes = sending.length === 0
      ? ""
      : `, ${humanSize(sum(sending, "current"))}/${humanSize(sum(sending, "total"))}`;
    this.#ctx.progress(`pushing ${this.#what}: ${done}/${layers.length} layers${bytes}`);
  }
}

function sum<K extends string>(items: Record<K, number>[], key: K): number {
  return items.reduce((n, item) => n + item[key], 0);
}
