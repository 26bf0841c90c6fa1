/**
 * Headless Debian Chromium (`/usr/bin/chromium`, installed by scripts/infra)
 * driven by playwright-core from npm, for the dashboard's browser tests. The
 * flags keep Chromium from calling out to the network (this machine's
 * network is closed: such connections are refused and slow it down), and
 * every launch gets a fresh profile.
 *
 * @module
 */

import { type Browser, chromium, type Page } from "playwright-core";

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
  // HTTP/1.1 to control's HTTPS: Chromium ends every HTTP/2 session, requests
  // in flight included, with ERR_NETWORK_CHANGED whenever an interface comes or
  // goes, and on this machine containers' links do all the time (seen: the
  // followed logs stream cut at each app restart, logins failing).
  "--disable-http2",
];

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /**
   * A CA certificate (PEM file) the browser trusts for HTTPS, as a machine
   * whose administrator added it would: Chromium on Linux reads its roots
   * from the NSS database in `$HOME/.pki/nssdb`, so the browser gets a HOME
   * of its own whose database holds the CA (`certutil`, Debian's
   * libnss3-tools, which scripts/test installs). Certificate errors are
   * never ignored.
   */
  trustCaFile?: string;
}

/** Launches Chromium; fails with a clear message when it or certutil is not installed. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: scripts/infra up installs Debian's chromium`);
  }
  const home = await Deno.makeTempDir({ prefix: "dn-chromium-home-" });
  if (options.trustCaFile !== undefined) await trustCa(home, options.trustCaFile);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
    env: { ...Deno.env.toObject(), HOME: home },
  });
  browser.on("disconnected", () => void Deno.remove(home, { recursive: true }).catch(() => {}));
  return browser;
}

/** Creates the NSS database of `home` with `caFile` trusted to identify servers. */
async function trustCa(home: string, caFile: string): Promise<void> {
  const db = `sql:${home}/.pki/nssdb`;
  await Deno.mkdir(`${home}/.pki/nssdb`, { recursive: true });
  for (
    const args of [["-N", "--empty-password"], ["-A", "-t", "C,,", "-n", "dn CA", "-i", caFile]]
  ) {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("certutil", { args: ["-d", db, ...args] }).output();
    } catch {
      throw new Error("certutil is missing: scripts/test installs Debian's libnss3-tools");
    }
    if (!out.success) {
      throw new Error(`certutil ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

/** Tries of {@link openPage}. */
const NAVIGATION_TRIES = 3;

/**
 * Navigates `page` to `url`, again when Chromium drops the navigation with
 * `net::ERR_NETWORK_CHANGED`: it does so for connections in setup whenever a
 * network interface comes or goes, and on a test machine containers' links
 * come and go at any time (seen in CI: a login page that never loaded).
 */
export async function openPage(page: Page, url: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (e) {
      const changed = e instanceof Error && e.message.includes("net::ERR_NETWORK_CHANGED");
      if (!changed || attempt >= NAVIGATION_TRIES) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
