import { findBinary } from './find-binary.js';

/**
 * Flags for a throwaway headless Chromium, as root, on a machine with no GPU and no network
 * beyond loopback: no sandbox (root), no GPU process, and none of the background fetches
 * (component updates, sync, QUIC probes, first-run pages) that would make a test page's requests
 * leave the machine or race its own.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What playwright-core's `chromium.launch()` needs to start the machine's Chromium. */
export interface ChromiumLaunchOptions {
  executablePath: string;
  args: string[];
  headless: true;
}

/**
 * The machine's Chromium: `OSTROM_CHROMIUM` if set, else Debian's `/usr/bin/chromium`, else
 * `chromium` on PATH. Playwright's own browser downloads are never used (no registry here).
 */
export function findChromium(): string | undefined {
  return findBinary('chromium', ['/usr/bin/chromium'], 'OSTROM_CHROMIUM');
}

/** Launch options for {@link findChromium}'s binary with {@link CHROMIUM_ARGS}, or undefined. */
export function chromiumLaunchOptionsFor(
  executablePath: string | undefined,
): ChromiumLaunchOptions | undefined {
  return executablePath ? { executablePath, args: [...CHROMIUM_ARGS], headless: true } : undefined;
}
