/**
 * An app's stream idle timeout (`APP_STREAM_IDLE`, `streamIdleMs`): its
 * bounds, stored records that carry it, and the header that takes it to a
 * host's direct listener.
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  APP_DEFAULTS,
  isStreamIdleMs,
  MAX_STREAM_IDLE_MS,
  MIN_STREAM_IDLE_MS,
} from "../../lib/apps.ts";
import { HttpError } from "../../lib/http/json.ts";
import { parseAppRecord, StoreDataError } from "../../lib/store.ts";
import { STREAM_IDLE_HEADER, streamIdleOf } from "../../lib/stream_idle.ts";

const RECORD = {
  name: "a",
  hostname: "a.dn.local",
  port: 80,
  status: "running",
  version: 1,
  image: "r/a:v1",
  digest: "",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
};

Deno.test("streamIdleMs is 0 (the network's default) or 1 s to 1 h in whole ms", () => {
  for (const ok of [0, MIN_STREAM_IDLE_MS, 2000, MAX_STREAM_IDLE_MS]) {
    assertEquals(isStreamIdleMs(ok), true, String(ok));
  }
  for (const bad of [-1, 1, 999, MAX_STREAM_IDLE_MS + 1, 1.5e3 + 0.5, NaN, "2000", null]) {
    assertEquals(isStreamIdleMs(bad), false, String(bad));
  }
  assertEquals(APP_DEFAULTS.streamIdleMs, 0);
});

Deno.test("a stored record without streamIdleMs gets 0; a bad one does not validate", () => {
  assertEquals(parseAppRecord(JSON.stringify(RECORD)).streamIdleMs, 0);
  assertEquals(
    parseAppRecord(JSON.stringify({ ...RECORD, streamIdleMs: 2000 })).streamIdleMs,
    2000,
  );
  assertThrows(
    () => parseAppRecord(JSON.stringify({ ...RECORD, streamIdleMs: 10 })),
    StoreDataError,
  );
});

Deno.test("the host takes the idle timeout from its header, else its own default", () => {
  assertEquals(STREAM_IDLE_HEADER, "dn-stream-idle-ms");
  assertEquals(streamIdleOf(null, 60_000), 60_000);
  assertEquals(streamIdleOf("2000", 60_000), 2000);
  for (const bad of ["", "0", "-5", "2s", "1e3", " 2000", "9".repeat(13)]) {
    const e = assertThrows(() => streamIdleOf(bad, 60_000), HttpError) as HttpError;
    assertEquals([e.status, e.message], [
      400,
      "dn-stream-idle-ms must be a whole number of ms above 0",
    ]);
  }
});
