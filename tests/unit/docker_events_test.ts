/** The engine's container events: validated line by line, anything else skipped. */
import { assertEquals } from "../helpers/assert.ts";
import { parseContainerEvent, readContainerEvents } from "../../lib/docker/events.ts";

const ID = "a".repeat(64);
const die = {
  status: "die",
  id: ID,
  Type: "container",
  Action: "die",
  Actor: { ID, Attributes: { exitCode: "3", name: "dn-x-app-v1", "network.dn.app": "app" } },
  scope: "local",
  time: 1700000000,
  timeNano: 1700000000123456789,
};

Deno.test("docker events: a container event is read with its attributes", () => {
  assertEquals(parseContainerEvent(JSON.stringify(die)), {
    action: "die",
    id: ID,
    attributes: { exitCode: "3", name: "dn-x-app-v1", "network.dn.app": "app" },
    time: 1700000000123,
  });
});

Deno.test("docker events: malformed lines and other kinds of event are skipped", () => {
  for (
    const bad of [
      "",
      "not json",
      "[]",
      "null",
      JSON.stringify({ ...die, Type: "network" }),
      JSON.stringify({ ...die, Action: 5 }),
      JSON.stringify({ ...die, Actor: { ID: "../x", Attributes: {} } }),
      JSON.stringify({ ...die, Actor: { ID, Attributes: { exitCode: 3 } } }),
      JSON.stringify({ ...die, Actor: { ID } }),
    ]
  ) {
    assertEquals(parseContainerEvent(bad), null, bad);
  }
});

Deno.test("docker events: a stream yields each event as its line arrives", async () => {
  const text = `${JSON.stringify(die)}\ngarbage\n${JSON.stringify({ ...die, Action: "start" })}\n`;
  const body = ReadableStream.from([new TextEncoder().encode(text)]);
  const actions = [];
  for await (const e of readContainerEvents(body, "lost")) actions.push(e.action);
  assertEquals(actions, ["die", "start"]);
});
