/**
 * What a command runs with: the parsed global flags, output, the clock, and
 * lazily made configuration, App.config, control client and Docker engine.
 * Everything from the outside world comes through {@link Deps}, so tests can
 * run commands against fakes.
 *
 * @module
 */

import { type DnConfig, loadConfig } from "../lib/config.ts";
import { isAbsolute, join } from "node:path";
import { type AppConfig, readAppConfig } from "./app_config.ts";
import { ControlClient } from "./control_client.ts";
import { trustingFetch } from "./control_urls.ts";
import { CliError } from "./errors.ts";
import {
  findNetworkConfig,
  isFile,
  missingTokenMessage,
  type NetworkConfigSearch,
} from "./network_config.ts";
import type { ImageBackend } from "./image_backend.ts";

/** Global flags, parsed. */
export interface GlobalOptions {
  /** `-C DIR`: the app directory (default: the working directory). */
  dir?: string;
  /** `--app-config FILE`: the App.config path (default: DIR/App.config). */
  appConfig?: string;
  /** `--app NAME`: the app, instead of APP_NAME from App.config. */
  app?: string;
  /** `--network-config FILE`: the shared dn config file. */
  networkConfig?: string;
  /** `--control-url URL`. */
  controlUrl?: string;
  /** `--token TOKEN`. */
  token?: string;
  /** `--registry HOST:PORT`. */
  registry?: string;
  /** `--docker-socket PATH`. */
  dockerSocket?: string;
  /** `--json`: machine-readable output (list, status, logs). */
  json?: boolean;
  /** `-f, --follow` (logs). */
  follow?: boolean;
  /** `--host HOST` (logs). */
  host?: string;
  /** `--since DURATION|TIME` (logs), as typed. */
  since?: string;
  /** `--tail N` (logs), as typed. */
  tail?: string;
  /** `--cert FILE` (certs set). */
  cert?: string;
  /** `--key FILE` (certs set). */
  key?: string;
  /** `--raw` (logs): keep terminal escape codes. */
  raw?: boolean;
  /** `--no-wait`: return once control accepted a change. */
  noWait?: boolean;
  /** `--verbose`: the whole build and push output. */
  verbose?: boolean;
}

/** Where output goes: one call per line, without the newline. */
export interface Output {
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
  /**
   * Shows `text` as a progress line that the next call replaces (`""`
   * clears it); absent when standard error is not a terminal.
   */
  progress?(text: string): void;
}

/** The outside world a command uses. */
export interface Deps {
  /** Environment variables. */
  env: Record<string, string | undefined>;
  /** Working directory. */
  cwd: string;
  /** Current time. */
  now(): Date;
  /** Output. */
  io: Output;
  /** fetch for control and the registry. */
  fetch: typeof fetch;
  /** Makes the Docker engine client. */
  images(config: DnConfig): ImageBackend | Promise<ImageBackend>;
  /** Reads all of standard input (`dn env set KEY=-`); absent where there is none. */
  readStdin?: () => Promise<string>;
}

/** Everything a command runs with. */
export class Context {
  /** Parsed global flags. */
  readonly options: GlobalOptions;
  /** The outside world. */
  readonly deps: Deps;
  #config?: DnConfig;
  #search?: NetworkConfigSearch;
  #app?: Promise<AppConfig>;
  #control?: ControlClient;
  #images?: Promise<ImageBackend>;
  #registryFetch?: typeof fetch;

  /** Creates a context; nothing is read until asked for. */
  constructor(options: GlobalOptions, deps: Deps) {
    this.options = options;
    this.deps = deps;
  }

  /** Writes a line to standard output. */
  out(line: string): void {
    this.deps.io.out(line);
  }

  /** Writes a line to standard error. */
  err(line: string): void {
    this.deps.io.err(line);
  }

  /** Shows a progress line on a terminal (`""` clears it); nothing when not on one. */
  progress(text: string): void {
    this.deps.io.progress?.(text);
  }

  /** The current time. */
  now(): Date {
    return this.deps.now();
  }

  /**
   * The network configuration: flags over `DN_*` environment over file over
   * defaults. The file is `--network-config`, `$DN_CONFIG`, or the first
   * found of `~/.config/dn/config.json` and `$DN_STATE_DIR/config/cli.json`.
   */
  config(): DnConfig {
    if (!this.#config) {
      const o = this.options;
      const flagFile = o.networkConfig === undefined ? undefined : this.resolve(o.networkConfig);
      this.#search = findNetworkConfig(flagFile, this.deps.env, isFile);
      this.#config = loadConfig({
        file: this.#search.file,
        env: this.deps.env,
        flags: {
          controlUrl: o.controlUrl,
          token: o.token,
          registry: o.registry,
          dockerSocket: o.dockerSocket,
        },
      });
    }
    return this.#config;
  }

  /** The app directory: `-C DIR`, or the working directory. */
  appDir(): string {
    return this.options.dir === undefined ? this.deps.cwd : this.resolve(this.options.dir);
  }

  /** The App.config path and how messages name it (as the user would type it). */
  appConfigPath(): { path: string; display: string } {
    if (this.options.appConfig !== undefined) {
      return { path: this.resolve(this.options.appConfig), display: this.options.appConfig };
    }
    const display = this.options.dir === undefined
      ? "App.config"
      : join(this.options.dir, "App.config");
    return { path: join(this.appDir(), "App.config"), display };
  }

  /** The app's App.config, read once. */
  app(): Promise<AppConfig> {
    if (!this.#app) {
      const { path, display } = this.appConfigPath();
      this.#app = readAppConfig(path, display);
    }
    return this.#app;
  }

  /** The control client; fails when no token is configured. */
  control(): ControlClient {
    if (!this.#control) {
      const config = this.config();
      if (config.controlUrl === "") {
        throw new CliError("no control URL: set controlUrl, DN_CONTROL_URL or --control-url");
      }
      if (config.token === "") {
        throw new CliError(missingTokenMessage(this.#search ?? { file: undefined, looked: [] }));
      }
      this.#control = new ControlClient({
        url: config.controlUrl,
        token: config.token,
        fetch: this.deps.fetch,
        caFile: config.controlCaFile,
      });
    }
    return this.#control;
  }

  /**
   * fetch for the registry's API: with `registryCaFile`, the registry's
   * certificate must verify against that CA (and only it).
   */
  registryFetch(): typeof fetch {
    this.#registryFetch ??= trustingFetch(
      this.deps.fetch,
      this.config().registryCaFile,
      "registryCaFile",
    );
    return this.#registryFetch;
  }

  /** The Docker engine client, made once. */
  images(): Promise<ImageBackend> {
    if (!this.#images) {
      const config = this.config();
      this.#images = Promise.resolve(this.deps.images(config));
    }
    return this.#images;
  }

  /** Resolves `path` against the working directory. */
  resolve(path: string): string {
    return isAbsolute(path) ? path : join(this.deps.cwd, path);
  }
}
