/**
 * `dn status` LATENCY is the bus round trip: a host reports how long it took
 * to answer (its Docker query) by its own monotonic clock, and control
 * subtracts it from the round trip it measured (no clocks compared).
 *
 * @module
 */

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { busRoundTrip } from "../../control/broker.ts";
import { decodeStatusReply, encodeStatusReply } from "../../lib/commands.ts";
import { EnvelopeError } from "../../lib/envelope.ts";

const CONTAINER = {
  id: "abc",
  imageId: "sha256:6f0d8b9aefff",
  version: 2,
  revision: 1,
  digest: `sha256:${"ab".repeat(32)}`,
  serving: true,
  state: "running",
  exitCode: 0,
  createdAt: "2026-01-01T00:00:00Z",
  startedAt: "2026-01-01T00:00:01Z",
  finishedAt: "",
};

Deno.test("a status reply carries the host's handling time and each container's revision", () => {
  const reply = { host: "vaermina", containers: [CONTAINER], handledMs: 12.345 };
  assertEquals(decodeStatusReply(encodeStatusReply(reply)), reply);
  const old = { host: "vaermina", containers: [{ ...CONTAINER, revision: undefined }] };
  assertEquals(decodeStatusReply(encodeStatusReply(old)).handledMs, undefined);
  for (const handledMs of [-1, "3", Infinity]) {
    const bad = new TextEncoder().encode(
      JSON.stringify({ v: 1, host: "vaermina", containers: [], handledMs }),
    );
    assertThrows(() => decodeStatusReply(bad), EnvelopeError);
  }
  const badRevision = new TextEncoder().encode(
    JSON.stringify({ v: 1, host: "vaermina", containers: [{ ...CONTAINER, revision: -1 }] }),
  );
  assertThrows(() => decodeStatusReply(badRevision), EnvelopeError);
});

Deno.test("latency is the round trip minus the host's Docker time, reported apart", () => {
  const reply = { host: "meridia", containers: [], handledMs: 14.2 };
  assertEquals(busRoundTrip(reply, 14.65), {
    host: "meridia",
    latencyMs: 0.45,
    dockerMs: 14.2,
    containers: [],
  });
  // A host that says it took longer than the round trip cannot make it negative.
  assertEquals(busRoundTrip({ ...reply, handledMs: 20 }, 15).latencyMs, 0.01);
  // Hosts of earlier versions say nothing: the whole round trip, unrounded to whole ms.
  assertEquals(busRoundTrip({ host: "meridia", containers: [] }, 0.734), {
    host: "meridia",
    latencyMs: 0.73,
    containers: [],
  });
});
