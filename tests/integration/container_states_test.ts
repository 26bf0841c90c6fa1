/**
 * The host's container state kept from Docker's events
 * (host/container_states.ts, fed by host/events.ts) against the real Docker
 * Engine: a container created, started, killed, restarted by its policy and
 * removed shows so in memory within a second, with no Docker call on
 * reading; a change made while the event stream was down is not shown as
 * current (the state is not synced) until the stream is open again and a
 * full look found it.
 *
 * Containers run the base image (scripts/base-image, `dn/deno`) idling, with
 * labels of a host name of this run's own; they are removed at the end.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { DockerClient } from "../../lib/docker/mod.ts";
import { Logger } from "../../lib/log.ts";
import { ContainerStates } from "../../host/container_states.ts";
import { followContainerEvents, LastExits } from "../../host/events.ts";
import { LABEL } from "../../host/containers.ts";

const HOST = `states-${crypto.randomUUID().slice(0, 8)}`;
const APP = "states";
const IDLE = ["deno", "eval", "setInterval(() => {}, 1000)"];

/** Polls `check` every 20 ms until it holds; returns how long it took, in ms. */
async function within(what: string, ms: number, check: () => boolean): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - started;
}

/** An empty state of this run's host's containers. */
function statesOf(docker: DockerClient, log: Logger): ContainerStates {
  return new ContainerStates({
    docker,
    hostLabel: LABEL.host,
    hostName: HOST,
    appLabel: LABEL.app,
    log,
  });
}

/** `docker kill`: SIGKILL, outside dn, as an operator or the kernel might. */
async function kill(id: string): Promise<void> {
  const out = await new Deno.Command("docker", { args: ["kill", id], stdout: "null" }).output();
  assert(out.success, `docker kill ${id} failed`);
}

/** Kills the container's first process from outside Docker, as a crash would (its policy applies). */
async function crash(id: string): Promise<void> {
  const out = await new Deno.Command("docker", {
    args: ["inspect", "--format", "{{.State.Pid}}", id],
    stdout: "piped",
  }).output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  assert(out.success && pid > 0, `no process for ${id}`);
  Deno.kill(pid, "SIGKILL");
}

/** Starts following this run's containers; `stop()` ends it. */
function follow(docker: DockerClient, states: ContainerStates, log: Logger) {
  const stop = new AbortController();
  const done = followContainerEvents({
    docker,
    hostName: HOST,
    log,
    exits: new LastExits(),
    signal: stop.signal,
    onEnded: () => {},
    onResync: () => {},
    onChanged: (id) => states.changed(id),
    onOpening: () => void states.resync(),
    onLost: () => states.lost(),
  });
  return async () => {
    stop.abort();
    await done;
  };
}

async function create(docker: DockerClient, name: string, restart: "no" | "always") {
  return await docker.createContainer(name, {
    image: "dn/deno:latest",
    env: {},
    labels: { [LABEL.managed]: "true", [LABEL.host]: HOST, [LABEL.app]: APP, [LABEL.version]: "3" },
    containerPort: 8000,
    restartPolicy: restart,
    init: true,
    cmd: IDLE,
  });
}

Deno.test({
  name: "container state follows Docker's events: start, kill, restart by policy, remove",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using docker = new DockerClient();
    const log = new Logger("states-test", "warn");
    const states = statesOf(docker, log);
    const stop = follow(docker, states, log);
    const names = [`${HOST}-once`, `${HOST}-always`];
    try {
      await within("synced after the stream opened", 5000, () => states.synced);
      const once = await create(docker, names[0], "no");
      await within("a created container", 2000, () => states.of(APP).some((c) => c.id === once));
      await docker.startContainer(once);
      const state = () => states.of(APP).find((c) => c.id === once)?.state;
      await within("started", 2000, () => state()?.running === true);
      assertEquals(states.of(APP).find((c) => c.id === once)?.labels[LABEL.version], "3");
      assertEquals(states.of("other"), []);

      await kill(once);
      const took = await within("killed", 1000, () => state()?.status === "exited");
      assertEquals(state()?.exitCode, 137);
      assert(state()?.finishedAt, "the kill's time is known");
      console.log(`kill seen in the state after ${took.toFixed(0)} ms`);

      // A crash restarted by its policy: the new run (another start time, a restart) shows.
      const always = await create(docker, names[1], "always");
      await docker.startContainer(always);
      const again = () => states.of(APP).find((c) => c.id === always);
      await within("running", 2000, () => again()?.state.running === true);
      const firstStart = again()!.state.startedAt;
      await crash(always);
      await within(
        "restarted by policy",
        5000,
        () => again()?.state.running === true && again()!.state.startedAt !== firstStart,
      );
      assertEquals(again()?.restartCount, 1);

      await docker.removeContainer(once, { force: true });
      await within("removed", 2000, () => !states.of(APP).some((c) => c.id === once));
    } finally {
      await stop();
      for (const name of names) await docker.removeContainer(name, { force: true });
    }
  },
});

Deno.test({
  name: "container state: changes while the stream was down show only after a full look",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using docker = new DockerClient();
    const log = new Logger("states-test", "error");
    const states = statesOf(docker, log);
    const name = `${HOST}-missed`;
    let stop = follow(docker, states, log);
    try {
      await within("synced", 5000, () => states.synced);
      const id = await create(docker, name, "no");
      await docker.startContainer(id);
      const state = () => states.of(APP).find((c) => c.id === id)?.state;
      await within("running", 2000, () => state()?.running === true);
      // The stream breaks: what is kept no longer counts as current.
      await stop();
      states.lost();
      assertEquals(states.synced, false);
      await kill(id);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assertEquals(state()?.running, true, "no event came: the kept state is old");
      assertEquals(states.synced, false, "and it says so");
      // Open again: a full look finds the kill, whether or not the events are replayed.
      stop = follow(docker, states, log);
      await within("synced again", 5000, () => states.synced);
      assertEquals(state()?.status, "exited");
      // A container gone while nobody looked is dropped by the backstop's full look.
      await stop();
      await docker.removeContainer(id, { force: true });
      await states.resync();
      assertEquals(states.of(APP), []);
    } finally {
      await stop();
      await docker.removeContainer(name, { force: true });
    }
  },
});
