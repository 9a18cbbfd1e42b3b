import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCrawlerStatus } from '@ostrom/crawler';
import { type AdminMetrics, bearerChecker, createAdminHandler } from '@ostrom/http';
import { createPanel, type PanelOptions } from '../panel/panel.js';
import { APPLICATION_VERSION } from '../version.js';

/** Options of {@link createAdminApi}: the panel's, and what only the API serves. */
export interface AdminApiOptions extends PanelOptions {
  /** The node's announcement fURL, for `GET /admin/v1/nurl`. */
  readonly furl: string;
  /** Served as `/metrics` when given. */
  readonly metrics?: AdminMetrics | undefined;
}

/**
 * The node's admin listener: `@ostrom/http`'s admin API behind the node's token, with the web
 * panel (which has its own login: browsers carry no bearer token) on every other path.
 */
export function createAdminApi(
  options: AdminApiOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { crawler, gsd, leaseDb } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  return createAdminHandler({
    ...options,
    authorize: bearerChecker(options.token),
    version: APPLICATION_VERSION,
    // Without the running crawler, the state it saved, as `ostrom crawler status` reads it.
    crawlerStatus: () => (crawler ? crawler.status() : readCrawlerStatus(leaseDb, { now: now() })),
    gsdStatus: gsd && (() => gsd.status()),
    fallback: createPanel(options),
  });
}
