/**
 * Every setting dn knows ({@linkcode DnConfig}) and its default
 * ({@linkcode DEFAULTS}); lib/config.ts reads them from files, the
 * environment and flags.
 *
 * @module
 */

/** Every setting dn knows, fully resolved. */
export interface DnConfig {
  /** Base URL of the control API, used by the CLI (`http://127.0.0.1:7070`). */
  controlUrl: string;
  /** Address control listens on (`127.0.0.1:7070`). */
  controlListen: string;
  /** CA certificate (PEM file) the CLI verifies an `https://` control with (`""` = system roots). */
  controlCaFile: string;
  /** Certificate (PEM file) control's API or a host's request listener serves, reloaded (`""` = HTTP). */
  tlsCertFile: string;
  /** Its private key (PEM file, mode 600: refused at start when group or others can read it). */
  tlsKeyFile: string;
  /** CA certificate (PEM file): the gateway reaches hosts' request listeners over TLS, verified (`""` = plain). */
  hostCaFile: string;
  /** Address control's health and metrics endpoint listens on (`""` = off). */
  controlMetricsListen: string;
  /** API token shared by CLI and control. */
  token: string;
  /**
   * AMQP URL with the role's own user (`amqp://user:pass@127.0.0.1:5679/dn`),
   * or several, comma-separated, one per node of a RabbitMQ cluster: a
   * service moves to the next when its node is lost.
   */
  amqpUrl: string;
  /** CA certificate (PEM file) to verify an `amqps://` broker. */
  amqpCaFile: string;
  /**
   * Redis URL (`redis://:pass@127.0.0.1:6389/0`). With `redisSentinels`,
   * only its password, database and scheme are used: the primary's address
   * comes from the Sentinels.
   */
  redisUrl: string;
  /**
   * CA certificate (PEM file) to verify a `rediss://` Redis and its
   * Sentinels (`""` = the system roots).
   */
  redisCaFile: string;
  /**
   * Redis Sentinels that name the primary, comma-separated `host:port`
   * (`""` = none: `redisUrl` is the one Redis). They take the password of
   * `redisUrl` too.
   */
  redisSentinels: string;
  /** Name the Sentinels monitor the primary under. */
  redisSentinelName: string;
  /**
   * Replicas that must acknowledge each state change control makes (Redis
   * `WAIT`) before it answers success (0 = do not wait).
   */
  redisWaitReplicas: number;
  /** Longest wait for those acknowledgements, in milliseconds (503 after). */
  redisWaitMs: number;
  /** Registry host and port images are pushed to and pulled from (`127.0.0.1:5055`). */
  registry: string;
  /**
   * CA certificate (PEM file) the registry's HTTPS certificate must verify
   * against; a host checks it at start (`""` = no check).
   */
  registryCaFile: string;
  /** Registry user name. */
  registryUser: string;
  /** Registry password. */
  registryPassword: string;
  /** Docker Engine API Unix socket. */
  dockerSocket: string;
  /** Address the gateway listens on (`127.0.0.1:8080`). */
  gatewayListen: string;
  /** Address the gateway's health and metrics endpoint listens on (`""` = off). */
  gatewayMetricsListen: string;
  /**
   * Gateways' metrics URLs that control scrapes for the dashboard's charts,
   * comma-separated (`http://127.0.0.1:9180/metrics`; `""` = no charts).
   */
  gatewayMetricsUrls: string;
  /** How long a dashboard login lasts, in milliseconds (8 h). */
  dashboardSessionMs: number;
  /** Address the gateway takes HTTPS on, certificates by SNI (`""` = off; gateway/tls_front.ts). */
  gatewayHttpsListen: string;
  /** ACME directory control gets certificates from (`""` = no ACME; control/acme.ts). */
  acmeDirectoryUrl: string;
  /** Contact email of the ACME account (`""` = none). */
  acmeEmail: string;
  /** CA certificate (PEM file) the ACME directory's TLS is checked against (`""` = system roots). */
  acmeCaFile: string;
  /** Name of this host service, unique in the network (`vaermina`). */
  hostName: string;
  /**
   * Address a host's health and metrics endpoint listens on (`127.0.0.1:0` =
   * any free port, logged as `health listening`; `""` = off).
   */
  hostListen: string;
  /**
   * Address a host takes direct requests from the gateway on (`127.0.0.1:0` =
   * any free port; the bound address is announced in Redis, so it must be one
   * the gateway can reach, never a wildcard).
   */
  hostRequestListen: string;
  /**
   * Secret the gateway sends hosts with direct requests (`""` = no direct
   * path: every request goes through RabbitMQ).
   */
  requestToken: string;
  /**
   * Where a host tells gateways to send its apps' requests: `"host"` (its
   * request listener, which forwards to the container) or `"container"`
   * (straight to the container's bridge IP: one hop fewer, but only for
   * gateways that can reach this host's container network, such as on the
   * same machine, or, with `containerPublishAddress`, its port published on
   * this machine's address). Needs `requestToken`.
   */
  requestRoute: string;
  /**
   * Address of this machine a host with `requestRoute: "container"`
   * publishes its app containers' ports on and announces, for gateways on
   * other machines (`""` = announce the bridge IP). Needs `gatewayAddresses`.
   */
  containerPublishAddress: string;
  /**
   * Gateways' IPv4 addresses or CIDRs, comma-separated: the only sources a
   * host's firewall rule lets connect to published app ports.
   */
  gatewayAddresses: string;
  /** Topic exchange all messages travel on. */
  exchange: string;
  /** Redis key prefix, so several networks can share one Redis. */
  redisPrefix: string;
  /** Bodies larger than this travel through Redis instead of inside the message. */
  inlineBodyLimit: number;
  /** Largest request or response body accepted, in bytes (413 above). */
  bodyLimit: number;
  /** Time a request may take end to end, in milliseconds (504 above). */
  requestTimeoutMs: number;
  /**
   * Time a client may take to send a request body before the app's answer
   * begins, in milliseconds (408 above).
   */
  bodyTimeoutMs: number;
  /**
   * Longest silence on a streamed request or response (no byte either way),
   * in milliseconds, on the container and host routes: the connection is cut.
   */
  streamIdleTimeoutMs: number;
  /** RabbitMQ user control connects as; hosts take commands only from it (`user_id`). */
  controlUser: string;
  /** RabbitMQ user the gateway connects as; hosts take requests only from it (`user_id`). */
  gatewayUser: string;
  /** Least severe log level written. */
  logLevel: "debug" | "info" | "warn" | "error";
}

/** Default values; secrets and URLs of a running network have no useful default. */
export const DEFAULTS: DnConfig = {
  controlUrl: "http://127.0.0.1:7070",
  controlListen: "127.0.0.1:7070",
  controlCaFile: "",
  tlsCertFile: "",
  tlsKeyFile: "",
  hostCaFile: "",
  controlMetricsListen: "127.0.0.1:9170",
  token: "",
  amqpUrl: "amqp://guest:guest@127.0.0.1:5672/",
  amqpCaFile: "",
  redisUrl: "redis://127.0.0.1:6379/0",
  redisCaFile: "",
  redisSentinels: "",
  redisSentinelName: "dn",
  redisWaitReplicas: 0,
  redisWaitMs: 1000,
  registry: "127.0.0.1:5000",
  registryCaFile: "",
  registryUser: "",
  registryPassword: "",
  dockerSocket: "/var/run/docker.sock",
  gatewayListen: "127.0.0.1:8080",
  gatewayMetricsListen: "127.0.0.1:9180",
  gatewayMetricsUrls: "http://127.0.0.1:9180/metrics",
  dashboardSessionMs: 8 * 3600_000,
  gatewayHttpsListen: "",
  acmeDirectoryUrl: "",
  acmeEmail: "",
  acmeCaFile: "",
  hostName: "",
  hostListen: "127.0.0.1:0",
  hostRequestListen: "127.0.0.1:0",
  requestToken: "",
  requestRoute: "host",
  containerPublishAddress: "",
  gatewayAddresses: "",
  exchange: "dn",
  redisPrefix: "dn:",
  inlineBodyLimit: 256 * 1024,
  bodyLimit: 16 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  streamIdleTimeoutMs: 60_000,
  controlUser: "dn-control",
  gatewayUser: "dn-gateway",
  logLevel: "info",
};
