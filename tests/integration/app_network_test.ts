/**
 * The app network against the real Docker Engine (`DN_DOCKER_SOCKET` to use
 * another): hosts racing to create it all end up on one network, one made
 * otherwise is refused, and the network calls check names first. Each
 * network is named `dn-test-<run>-…` (its bridge `dnt<run>…`) and removed at
 * the end.
 */

import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import {
  createNetwork,
  DockerClient,
  DockerError,
  DockerInputError,
  inspectNetwork,
} from "../../lib/docker/mod.ts";
import { ensureAppNetwork, IsolationError } from "../../host/isolation.ts";

const SOCKET = Deno.env.get("DN_DOCKER_SOCKET") ?? "/var/run/docker.sock";
const RUN = crypto.randomUUID().slice(0, 6);

async function removeNetwork(docker: DockerClient, name: string): Promise<void> {
  await docker.call("DELETE", `/networks/${name}`, { allow: [404] });
}

Deno.test("hosts racing to create the app network share the one that won", async () => {
  using docker = new DockerClient({ socketPath: SOCKET });
  const name = `dn-test-${RUN}-apps`;
  const bridge = `dnt${RUN}0`;
  try {
    const nets = await Promise.all(
      Array.from({ length: 4 }, () => ensureAppNetwork(docker, name, bridge)),
    );
    assertEquals(new Set(nets.map((n) => n.id)).size, 1);
    assertEquals(nets[0].options["com.docker.network.bridge.enable_icc"], "false");
    assertEquals(nets[0].labels["network.dn.managed"], "true");
    assertEquals((await ensureAppNetwork(docker, name, bridge)).id, nets[0].id); // a restart
  } finally {
    await removeNetwork(docker, name);
  }
});

Deno.test("a network of that name with containers talking to each other is refused", async () => {
  using docker = new DockerClient({ socketPath: SOCKET });
  const name = `dn-test-${RUN}-open`;
  try {
    await createNetwork(docker, name, { labels: {}, options: {} });
    const e = await assertRejects(
      () => ensureAppNetwork(docker, name, `dnt${RUN}1`),
      IsolationError,
    );
    assertMatch(e.message, new RegExp(`^network ${name} exists but is not a bridge dnt${RUN}1`));
    const again = await assertRejects(
      () => createNetwork(docker, name, { labels: {}, options: {} }),
      DockerError,
    );
    assertEquals((again as DockerError).status, 409);
  } finally {
    await removeNetwork(docker, name);
  }
});

Deno.test("network calls refuse bad names before any request", async () => {
  using docker = new DockerClient({ socketPath: `/nonexistent/${RUN}.sock` });
  for (const bad of ["", "../x", "a b", "-x", "a".repeat(65)]) {
    await assertRejects(() => inspectNetwork(docker, bad), DockerInputError);
    await assertRejects(
      () => createNetwork(docker, bad, { labels: {}, options: {} }),
      DockerInputError,
    );
  }
  await assertRejects(
    () => createNetwork(docker, "ok", { labels: { "": "x" }, options: {} }),
    DockerInputError,
  );
  // A prefix of an id is not a name.
  using real = new DockerClient({ socketPath: SOCKET });
  const id = (await inspectNetwork(real, "bridge"))?.id ?? "";
  assertEquals(await inspectNetwork(real, id.slice(0, 12)), null);
});
