import type { NodeCrawlerOptions } from '@ostrom/crawler';
import { type LoadedNode, nodePath } from './node-dir.js';

// The node's crawler service (the background crawl, the backups and the usage snapshots) is
// @ostrom/crawler's `createNodeCrawler` (`packages/crawler/src/node-crawler.ts`); here the node's
// `[crawler]` and `[database]` become its options.

/** What `createNodeCrawler` takes from the node's config and directory. */
export type NodeCrawlerSettings = Pick<
  NodeCrawlerOptions,
  | 'stateKey'
  | 'backgroundCrawl'
  | 'allowedFraction'
  | 'minCycleSeconds'
  | 'deleteUnleased'
  | 'deletionGraceSeconds'
  | 'databasePath'
  | 'backupIntervalSeconds'
  | 'backupsKept'
>;

/**
 * The node crawler's options from `[crawler]`, and on SQLite the database file (resolved in the
 * node directory) that is backed up every `backup_interval`.
 */
export function nodeCrawlerSettings(node: LoadedNode): NodeCrawlerSettings {
  const { crawler, database } = node.config;
  return {
    stateKey: node.stateKey,
    backgroundCrawl: crawler.enabled,
    allowedFraction: crawler.allowedFraction,
    minCycleSeconds: crawler.minCycleSeconds,
    deleteUnleased: crawler.deleteUnleased,
    deletionGraceSeconds: crawler.deletionGraceSeconds,
    ...(database.kind === 'sqlite' ? { databasePath: nodePath(node.dir, database.path) } : {}),
    backupIntervalSeconds: crawler.backupIntervalSeconds,
    backupsKept: crawler.backupsKept,
  };
}
