/** Names the Docker client accepts in URLs, and the registry auth header. */

import assert from "node:assert/strict";
import {
  DockerInputError,
  encodeRegistryAuth,
  isContainerName,
  isImageRef,
  parseImageRef,
} from "../../lib/docker/mod.ts";

const hex = "0123456789abcdef".repeat(4);

Deno.test("isContainerName: names and ids only", () => {
  for (const ok of ["dn-vaermina-hello-world-v2", "a", "A_b.c-1", hex, "x".repeat(128)]) {
    assert.ok(isContainerName(ok), ok);
  }
  const bad = ["", "-x", ".x", "_x", "a/b", "../x", "a b", "a?b", "a%2f", "x".repeat(129), "é"];
  for (const name of [...bad, 1, null]) assert.ok(!isContainerName(name), String(name));
});

Deno.test("parseImageRef: registry, path, tag, digest", () => {
  assert.deepEqual(parseImageRef("127.0.0.1:5055/hello-world:v2"), {
    repository: "127.0.0.1:5055/hello-world",
    tag: "v2",
  });
  assert.deepEqual(parseImageRef("localhost:5000/a/b.c__d-e"), {
    repository: "localhost:5000/a/b.c__d-e",
  });
  assert.deepEqual(parseImageRef(`reg.example:443/app@sha256:${hex}`), {
    repository: "reg.example:443/app",
    digest: `sha256:${hex}`,
  });
  assert.deepEqual(parseImageRef(`app:v1@sha256:${hex}`), {
    repository: "app",
    tag: "v1",
    digest: `sha256:${hex}`,
  });
  assert.deepEqual(parseImageRef("dn/deno:2.9.6"), { repository: "dn/deno", tag: "2.9.6" });
  assert.deepEqual(parseImageRef(`sha256:${hex}`), { repository: `sha256:${hex}` });
  assert.deepEqual(parseImageRef("a0ed0007be7e"), { repository: "a0ed0007be7e" });
});

Deno.test("parseImageRef: refuses what could change the URL", () => {
  const bad = [
    "",
    "Hello",
    "app:",
    "app:-v1",
    "/app",
    "app/",
    "a//b",
    "../app",
    "app/../x",
    "app?x=1",
    "app#x",
    "app%2fx",
    "app tag",
    "sha256:abc",
    `app@sha256:${hex}0`,
    "app:v1/x",
    `${"a".repeat(256)}`,
    "host:port/app",
  ];
  for (const ref of bad) {
    assert.ok(!isImageRef(ref), ref);
    assert.throws(() => parseImageRef(ref), DockerInputError, ref);
  }
});

Deno.test("encodeRegistryAuth: URL-safe base64 with padding of the engine's JSON", () => {
  const auth = { username: "dn", password: "p>?~ü", serverAddress: "127.0.0.1:5055" };
  const header = encodeRegistryAuth(auth);
  assert.match(header, /^[A-Za-z0-9_-]+=*$/);
  assert.equal(header.length % 4, 0);
  const std = header.replaceAll("-", "+").replaceAll("_", "/");
  const json = new TextDecoder().decode(Uint8Array.from(atob(std), (c) => c.charCodeAt(0)));
  assert.deepEqual(JSON.parse(json), {
    username: "dn",
    password: "p>?~ü",
    serveraddress: "127.0.0.1:5055",
  });
  assert.equal(encodeRegistryAuth(null), "e30=");
});
