/**
 * Reads the server name (SNI, RFC 6066) and the protocols offered (ALPN,
 * RFC 7301) out of the first bytes a TLS client sends, its ClientHello,
 * without taking part in the handshake: the gateway's HTTPS front
 * (gateway/tls_front.ts) picks the certificate by the name and the HTTP
 * server by the protocols, then passes the very same bytes on.
 *
 * @module
 */

/** Largest ClientHello read (a handshake message may span records): 16 KiB. */
export const CLIENT_HELLO_LIMIT = 16 * 1024;

/** What {@link readServerName} found in the bytes so far. */
export type HelloResult =
  | { kind: "more" }
  | { kind: "name"; name: string; alpn: string[] }
  | { kind: "no-name" }
  | { kind: "invalid"; reason: string };

const MORE: HelloResult = { kind: "more" };

function invalid(reason: string): HelloResult {
  return { kind: "invalid", reason };
}

/**
 * Parses the ClientHello in `bytes` (what the client sent so far). Returns
 * `more` while the message is incomplete, the host name (lower case, no
 * trailing dot) and the ALPN protocols offered (none: empty) when there is
 * a name, `no-name` for a ClientHello without SNI
 * and `invalid` for anything that is not a TLS ClientHello.
 */
export function readServerName(bytes: Uint8Array): HelloResult {
  // Gather the handshake message from as many records as it spans.
  const message: number[] = [];
  let offset = 0;
  let needed = -1;
  while (needed < 0 || message.length < needed) {
    if (bytes.length < offset + 5) return MORE;
    if (bytes[offset] !== 22) return invalid("not a TLS handshake record");
    if (bytes[offset + 1] !== 3) return invalid("not a TLS record version");
    const length = (bytes[offset + 3] << 8) | bytes[offset + 4];
    if (length === 0 || length > 16384) return invalid("bad TLS record length");
    if (bytes.length < offset + 5 + length) return MORE;
    for (let i = offset + 5; i < offset + 5 + length; i++) message.push(bytes[i]);
    offset += 5 + length;
    if (needed < 0 && message.length >= 4) {
      if (message[0] !== 1) return invalid("first handshake message is not a ClientHello");
      needed = 4 + ((message[1] << 16) | (message[2] << 8) | message[3]);
      if (needed > CLIENT_HELLO_LIMIT) return invalid("ClientHello too large");
    }
  }
  return serverNameOf(Uint8Array.from(message.slice(4, needed)));
}

/** The SNI host name in a ClientHello body. */
function serverNameOf(hello: Uint8Array): HelloResult {
  const u16 = (at: number) => (hello[at] << 8) | hello[at + 1];
  let p = 2 + 32; // client_version, random
  if (p + 1 > hello.length) return invalid("truncated ClientHello");
  p += 1 + hello[p]; // session_id
  if (p + 2 > hello.length) return invalid("truncated ClientHello");
  p += 2 + u16(p); // cipher_suites
  if (p + 1 > hello.length) return invalid("truncated ClientHello");
  p += 1 + hello[p]; // compression_methods
  if (p === hello.length) return { kind: "no-name" }; // no extensions
  if (p + 2 > hello.length) return invalid("truncated ClientHello");
  const end = p + 2 + u16(p);
  if (end > hello.length) return invalid("truncated ClientHello extensions");
  p += 2;
  let name: HelloResult = { kind: "no-name" };
  let alpn: string[] = [];
  while (p + 4 <= end) {
    const type = u16(p);
    const length = u16(p + 2);
    p += 4;
    if (p + length > end) return invalid("truncated ClientHello extension");
    if (type === 0) name = nameFromExtension(hello.subarray(p, p + length));
    if (type === 16) alpn = protocolsFromExtension(hello.subarray(p, p + length));
    p += length;
  }
  return name.kind === "name" ? { ...name, alpn } : name;
}

/** The protocol names of an application_layer_protocol_negotiation extension (malformed: none). */
function protocolsFromExtension(ext: Uint8Array): string[] {
  const out: string[] = [];
  const listEnd = 2 + ((ext[0] << 8) | ext[1]);
  if (ext.length < 2 || listEnd > ext.length) return out;
  for (let p = 2; p < listEnd;) {
    const length = ext[p];
    if (p + 1 + length > listEnd) return [];
    out.push(String.fromCharCode(...ext.subarray(p + 1, p + 1 + length)));
    p += 1 + length;
  }
  return out;
}

/** The host_name entry of a server_name extension. */
function nameFromExtension(ext: Uint8Array): HelloResult {
  if (ext.length < 5) return invalid("bad server_name extension");
  const listEnd = 2 + ((ext[0] << 8) | ext[1]);
  if (listEnd > ext.length) return invalid("bad server_name extension");
  let p = 2;
  while (p + 3 <= listEnd) {
    const type = ext[p];
    const length = (ext[p + 1] << 8) | ext[p + 2];
    p += 3;
    if (p + length > listEnd) return invalid("bad server_name extension");
    if (type === 0) {
      const raw = ext.subarray(p, p + length);
      if (length === 0 || length > 253 || raw.some((b) => b < 0x21 || b > 0x7e)) {
        return invalid("bad host name in server_name");
      }
      const name = new TextDecoder().decode(raw).toLowerCase().replace(/\.$/, "");
      return { kind: "name", name, alpn: [] };
    }
    p += length;
  }
  return { kind: "no-name" };
}

/** TLS alert descriptions the front sends before closing (RFC 8446 6). */
export const ALERT = { handshakeFailure: 40, unrecognizedName: 112 } as const;

/** A fatal TLS alert record (TLS 1.2 record version, as servers send before a version is agreed). */
export function fatalAlert(description: number): Uint8Array {
  return Uint8Array.of(21, 3, 3, 0, 2, 2, description);
}
