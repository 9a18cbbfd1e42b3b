export { COUNTER_NAMES, type CounterName, type Counters } from './counters.js';
export {
  AccountingCrawler,
  type CrawlerProgress,
  type CrawlerStatus,
  type CycleReport,
  readCrawlerStatus,
} from './crawler.js';
export type { CrawlerOptions, PacingClock } from './options.js';
export { PREFIXES } from './prefixes.js';
