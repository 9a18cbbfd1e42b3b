import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumLaunchOptions } from '@ostrom/test-fixtures';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, onTestFinished } from 'vitest';
import type { RunningNode } from '../src/server.js';

// Browser tests of the operator panel: the machine's Chromium driven by playwright-core (never a
// downloaded browser). One browser per test file, launched before its tests and closed after;
// a fresh context (cookies, storage) per tab, closed when its test finishes.

/** Launch options for the machine's Chromium; undefined (and a message) when absent outside CI. */
export const CHROMIUM = chromiumLaunchOptions('@ostrom/server operator panel in Chromium');

/** For `expect.poll` on a page: as long as a locator waits (vitest's default is 1 s). */
export const POLL = { timeout: 10_000 } as const;

/** A desktop window, for screenshots that show a page the way an operator's laptop does. */
export const DESKTOP = { width: 1280, height: 800 } as const;
/** A phone held upright (iPhone 12–15 class): no panel page may scroll sideways on it. */
export const PHONE = { width: 390, height: 844 } as const;

export interface Viewport {
  readonly width: number;
  readonly height: number;
}

/** One page in a context of its own, with every URL it asked for. */
export interface BrowserTab {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every request the context made, in order (documents, styles, scripts, images, fetches). */
  readonly requests: readonly string[];
}

/** The suite's browser; valid inside tests and hooks of the suite that called {@link useBrowser}. */
export interface BrowserSuite {
  readonly browser: Browser;
  /** A new context and page, closed when the test finishes; a failing test leaves a screenshot. */
  open(options?: { viewport?: Viewport; baseURL?: string }): Promise<BrowserTab>;
}

/**
 * Launches the suite's browser before its tests and closes it after them. Call inside a
 * `describe` (see {@link describeBrowser}).
 */
export function useBrowser(): BrowserSuite {
  let launched: Browser | undefined;
  beforeAll(async () => {
    if (!CHROMIUM) throw new Error('useBrowser() without Chromium: use describeBrowser()');
    launched = await chromium.launch(CHROMIUM);
  });
  afterAll(async () => {
    await launched?.close();
  });
  const suite: BrowserSuite = {
    get browser() {
      if (!launched) throw new Error('the browser is launched in beforeAll');
      return launched;
    },
    async open(options = {}) {
      const context = await suite.browser.newContext({
        viewport: { ...(options.viewport ?? DESKTOP) },
        ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      });
      // Everything here is on loopback: a locator that has not matched in 10 s (on a loaded CI
      // machine) never will, and the test says which one instead of running out its time.
      context.setDefaultTimeout(10_000);
      const requests: string[] = [];
      context.on('request', (request) => {
        requests.push(request.url());
      });
      const page = await context.newPage();
      // One hook, so the screenshot of a failure is taken before the context closes.
      onTestFinished(async ({ task }) => {
        if (task.result?.state === 'fail')
          await saveScreenshot(page, `failed-${task.name}`).catch(() => undefined);
        await context.close();
      });
      return { page, context, requests };
    },
  };
  return suite;
}

/**
 * A suite that needs a browser: it skips (saying so) without Chromium, except under CI. Its tests
 * may take a minute: a node, a browser context and several page loads on a CI machine that runs
 * every package's tests at once.
 */
export function describeBrowser(title: string, body: (suite: BrowserSuite) => void): void {
  describe.skipIf(!CHROMIUM)(title, { timeout: 60_000 }, () => {
    body(useBrowser());
  });
}

/**
 * Where screenshots go: `$OSTROM_TEST_REPORT_DIR/screenshots` under `.ci/run` (kept with the
 * run's reports), else `apps/server/test-artifacts/screenshots` (git-ignored).
 */
export function screenshotDir(): string {
  const reports = process.env.OSTROM_TEST_REPORT_DIR;
  return reports
    ? join(reports, 'screenshots')
    : fileURLToPath(new URL('../test-artifacts/screenshots/', import.meta.url));
}

/** Saves a full-page PNG of `page` as `<name>.png` in {@link screenshotDir}; returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const dir = screenshotDir();
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${slug(name)}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);
}

/** The requests that went anywhere but `origin` (data: URLs stay in the page and are allowed). */
export function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
}

/** A tab on a node's operator panel (the admin listener). */
export interface PanelTab extends BrowserTab {
  /** The admin listener's origin, `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** The node's admin token. */
  readonly token: string;
  /** Goes to a panel path and waits for the page to load. */
  goto(path: string): Promise<void>;
  /** Logs in through the login form as `operator`; resolves on the page it lands on. */
  login(operator: string): Promise<void>;
  /** Requests that left the admin origin so far. */
  foreignRequests(): string[];
  /** Trimmed text of the single element `selector` matches, polled until `expected` or timeout. */
  expectText(selector: string, expected: string | RegExp): Promise<void>;
}

/** Opens a tab on `running`'s panel (not logged in). */
export async function openPanel(
  suite: BrowserSuite,
  running: RunningNode,
  options: { viewport?: Viewport } = {},
): Promise<PanelTab> {
  if (!running.adminUrl) throw new Error('the node has no admin listener');
  const origin = running.adminUrl;
  const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
  const tab = await suite.open({ ...options, baseURL: origin });
  const { page } = tab;
  const panel: PanelTab = {
    ...tab,
    origin,
    token,
    async goto(path) {
      const response = await page.goto(path);
      if (!response) throw new Error(`no response for ${path}`);
    },
    async login(operator) {
      await page.goto('/login');
      const form = page.locator('form[data-testid="login-form"]');
      await form.locator('input[name="operator"]').fill(operator);
      await form.locator('input[name="token"]').fill(token);
      await form.locator('button[type="submit"]').click();
      await page.waitForURL((url) => url.pathname !== '/login');
    },
    foreignRequests: () => foreignRequests(tab.requests, origin),
    async expectText(selector, expected) {
      const read = async () => ((await page.locator(selector).textContent()) ?? '').trim();
      if (typeof expected === 'string') await expect.poll(read, POLL).toBe(expected);
      else await expect.poll(read, POLL).toMatch(expected);
    },
  };
  return panel;
}

/** Fails when the page is wider than its window (it would scroll sideways on a phone). */
export async function expectNoSidewaysScroll(panel: PanelTab): Promise<void> {
  // A string: this package's TypeScript has no DOM library.
  const widths = await panel.page.evaluate<{ scroll: number; inner: number }>(
    '({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })',
  );
  expect(widths.scroll, `${panel.page.url()} scrolls sideways`).toBeLessThanOrEqual(widths.inner);
}
