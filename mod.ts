/**
 * dn: a serverless network you run yourself. This module is the library
 * surface other programs can build on: configuration, the app model and
 * message protocol, and clients for control and the Docker engine.
 *
 * @example
 * ```ts
 * import { ControlClient, loadConfig } from "./mod.ts";
 *
 * const config = loadConfig();
 * const control = new ControlClient({ url: config.controlUrl, token: config.token });
 * console.log(await control.listApps());
 * ```
 *
 * @module
 */

export {
  ConfigError,
  type ConfigSources,
  type DnConfig,
  envName,
  flagName,
  loadConfig,
} from "./lib/config.ts";
export {
  APP_STATUSES,
  type AppRecord,
  type AppStatus,
  type AppStatusReport,
  type ContainerReport,
  type HostReport,
  imageRef,
} from "./lib/apps.ts";
export { isAppName, isHostname, isPort } from "./lib/names.ts";
export { type Command, type CommandKind, decodeCommand, encodeCommand } from "./lib/commands.ts";
export {
  decodeRequest,
  decodeResponse,
  encodeEnvelope,
  EnvelopeError,
  type HeaderList,
  type RequestHead,
  type ResponseHead,
} from "./lib/envelope.ts";
export { ControlClient, ControlError } from "./cli/control_client.ts";
export { DockerClient, DockerError, type RegistryAuth } from "./lib/docker/mod.ts";
