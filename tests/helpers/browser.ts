/**
 * Headless Debian Chromium (`/usr/bin/chromium`, installed by scripts/infra)
 * driven by playwright-core from npm, for the dashboard's browser tests. The
 * flags keep Chromium from calling out to the network (this machine's
 * network is closed: such connections are refused and slow it down), and
 * every launch gets a fresh profile.
 *
 * @module
 */

import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags of every launch. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches Chromium; fails with a clear message when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: scripts/infra up installs Debian's chromium`);
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
  });
}
