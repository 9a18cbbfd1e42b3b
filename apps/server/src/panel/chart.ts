import { formatSize } from '@ostrom/accountant';
import type { TrafficCounts, TrafficSample, UsageSample } from '@ostrom/leasedb';
import { type Html, html } from './html.js';

const HOUR = 3600;
const DAY = 24 * HOUR;

/** The chart's ranges: how far back, and the bucket one point stands for (null: every sample). */
export const CHART_RANGES = {
  day: { seconds: DAY, bucket: null, label: 'Last 24 hours' },
  month: { seconds: 30 * DAY, bucket: DAY, label: 'Last 30 days (one point a day)' },
  year: { seconds: 365 * DAY, bucket: 7 * DAY, label: 'Last year (one point a week)' },
} as const;

export type ChartRange = keyof typeof CHART_RANGES;

/**
 * The points to plot: every sample, or the last sample of each bucket (usage is a level, so the
 * latest value in a bucket stands for it, not a sum). The lease database keeps an account's
 * samples only where its totals changed, and starts a range with the level in force at `from`.
 */
export function chartPoints(
  samples: readonly UsageSample[],
  from: number,
  bucket: number | null,
): UsageSample[] {
  if (bucket === null) return [...samples];
  const last = new Map<number, UsageSample>();
  for (const sample of samples) last.set(Math.floor((sample.at - from) / bucket), sample);
  return [...last.values()].sort((a, b) => a.at - b.at);
}

/**
 * The points with the level in force now as the last one: snapshots are taken each hour, so
 * without it a chart would lag what the node holds by up to an hour (a flat 0 beside "725 MB
 * stored"). Added at `at` unless the last point already holds that level.
 */
export function withCurrentLevel(
  points: readonly UsageSample[],
  at: number,
  current: { readonly shares: number; readonly bytes: number },
): UsageSample[] {
  const last = points[points.length - 1];
  if (last && last.bytes === current.bytes && last.shares === current.shares) return [...points];
  return [...points.filter((p) => p.at < at), { at, shares: current.shares, bytes: current.bytes }];
}

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { left: 64, right: 16, top: 16, bottom: 28 };

function dateLabel(at: number, withTime: boolean): string {
  const iso = new Date(at * 1000).toISOString();
  return withTime ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

/** Both charts' frame: the axes, the byte scale (0 to `max`) and the range's two ends. */
function axes(max: number, from: number, to: number): Html {
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const withTime = to - from <= 2 * DAY;
  return html`<line class="axis" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}"/>
    <line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}"/>
    <text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${formatSize(max)}</text>
    <text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end">0</text>
    <text x="${PAD.left}" y="${HEIGHT - 8}">${dateLabel(from, withTime)}</text>
    <text x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end">${dateLabel(to, withTime)}</text>`;
}

/**
 * An inline SVG step chart of bytes over [from, to): one circle per point, each with a title
 * giving its time, bytes and shares. A level holds until the next point, and the last one until
 * `to`, so the line runs flat between points and steps at them. No script and nothing fetched:
 * it renders as the page loads.
 */
export function usageChart(
  points: readonly UsageSample[],
  from: number,
  to: number,
  title: string,
  quotas: { readonly hardQuotaBytes: number | null; readonly softQuotaBytes: number | null } = {
    hardQuotaBytes: null,
    softQuotaBytes: null,
  },
): Html {
  if (points.length === 0) {
    return html`<p class="muted" data-testid="chart-empty">No usage recorded in this range yet: the
      node records it each hour.</p>`;
  }
  // The scale holds the quotas too, so their lines show how close the usage came.
  const lines = (
    [
      ['hard', quotas.hardQuotaBytes],
      ['soft', quotas.softQuotaBytes],
    ] as const
  ).filter((entry): entry is readonly ['hard' | 'soft', number] => entry[1] !== null);
  const max = Math.max(...points.map((p) => p.bytes), ...lines.map(([, bytes]) => bytes), 1);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (at: number) => PAD.left + ((at - from) / Math.max(to - from, 1)) * plotW;
  const y = (bytes: number) => PAD.top + plotH - (bytes / max) * plotH;
  const steps = points.flatMap((p, i) => {
    const previous = points[i - 1];
    return previous
      ? [[p.at, previous.bytes] as const, [p.at, p.bytes] as const]
      : [[p.at, p.bytes] as const];
  });
  const last = points[points.length - 1] as UsageSample;
  steps.push([to, last.bytes]);
  const coords = steps.map(([at, bytes]) => `${x(at).toFixed(1)},${y(bytes).toFixed(1)}`).join(' ');
  const circles = points.map(
    (p) =>
      html`<circle data-testid="chart-point" cx="${x(p.at).toFixed(1)}" cy="${y(p.bytes).toFixed(1)}" r="3.5"><title>${dateLabel(p.at, true)} UTC: ${formatSize(p.bytes)} in ${p.shares} shares</title></circle>`,
  );
  return html`<svg class="chart" data-testid="usage-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}"
    role="img" aria-label="${title}" preserveAspectRatio="xMidYMid meet">
    ${axes(max, from, to)}
    ${lines.map(
      ([kind, bytes]) =>
        html`<line class="quota quota-${kind}" data-testid="chart-quota-${kind}" x1="${PAD.left}" y1="${y(bytes).toFixed(1)}" x2="${WIDTH - PAD.right}" y2="${y(bytes).toFixed(1)}"/><text class="quota-label" x="${WIDTH - PAD.right}" y="${(y(bytes) - 4).toFixed(1)}" text-anchor="end">${kind} quota ${formatSize(bytes)}</text>`,
    )}
    <polyline class="line" data-testid="chart-line" points="${coords}"/>
    ${circles}
  </svg>`;
}

/** Traffic summed over one stretch of a chart: its start, and what was served in it. */
export interface TrafficBucket extends TrafficCounts {
  readonly at: number;
}

/**
 * The hourly traffic samples of [from, to) summed into buckets of `bucket` seconds (an hour for
 * a day's chart), one per bucket of the range, empty ones included: traffic is a flow, so a
 * quiet hour is a zero, not a gap. `from` is a whole hour; hours outside the range are left out.
 */
export function trafficBuckets(
  samples: readonly TrafficSample[],
  from: number,
  to: number,
  bucket: number,
): TrafficBucket[] {
  const count = Math.max(1, Math.ceil((to - from) / bucket));
  const buckets = Array.from({ length: count }, (_, i) => ({
    at: from + i * bucket,
    uploads: 0,
    reads: 0,
    bytesIn: 0,
    bytesOut: 0,
  }));
  for (const s of samples) {
    if (s.hour < from || s.hour >= to) continue;
    const b = buckets[Math.floor((s.hour - from) / bucket)];
    if (!b) continue;
    b.uploads += s.uploads;
    b.reads += s.reads;
    b.bytesIn += s.bytesIn;
    b.bytesOut += s.bytesOut;
  }
  return buckets;
}

/** The sum of every bucket: the range's totals. */
export function trafficTotals(buckets: readonly TrafficCounts[]): TrafficCounts {
  return buckets.reduce(
    (sum, b) => ({
      uploads: sum.uploads + b.uploads,
      reads: sum.reads + b.reads,
      bytesIn: sum.bytesIn + b.bytesIn,
      bytesOut: sum.bytesOut + b.bytesOut,
    }),
    { uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0 },
  );
}

/**
 * An inline SVG bar chart of the bytes in and out of each bucket, side by side, each pair with a
 * title giving its time, uploads, reads and bytes. Nothing at all in the range says so in words.
 */
export function trafficChart(
  buckets: readonly TrafficBucket[],
  from: number,
  to: number,
  title: string,
): Html {
  const totals = trafficTotals(buckets);
  if (totals.uploads + totals.reads + totals.bytesIn + totals.bytesOut === 0) {
    return html`<p class="muted" data-testid="traffic-empty">No uploads or reads in this range.</p>`;
  }
  const max = Math.max(...buckets.flatMap((b) => [b.bytesIn, b.bytesOut]), 1);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / buckets.length;
  const barW = Math.max(1, slot * 0.4);
  const height = (bytes: number) => (bytes / max) * plotH;
  const withTime = to - from <= 2 * DAY;
  const groups = buckets.map((b, i) => {
    const x = PAD.left + i * slot + slot * 0.1;
    const inH = height(b.bytesIn);
    const outH = height(b.bytesOut);
    return html`<g data-testid="traffic-bucket"><title>${dateLabel(b.at, withTime)} UTC: ${b.uploads} uploads, ${b.reads} reads, ${formatSize(b.bytesIn)} in, ${formatSize(b.bytesOut)} out</title>
      <rect class="bar-in" x="${x.toFixed(1)}" y="${(PAD.top + plotH - inH).toFixed(1)}" width="${barW.toFixed(1)}" height="${inH.toFixed(1)}"/>
      <rect class="bar-out" x="${(x + barW).toFixed(1)}" y="${(PAD.top + plotH - outH).toFixed(1)}" width="${barW.toFixed(1)}" height="${outH.toFixed(1)}"/></g>`;
  });
  return html`<svg class="chart" data-testid="traffic-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}"
    role="img" aria-label="${title}" preserveAspectRatio="xMidYMid meet">
    ${axes(max, from, to)}
    <rect class="bar-in" x="${PAD.left + 12}" y="${PAD.top - 8}" width="10" height="10"/><text x="${PAD.left + 26}" y="${PAD.top + 2}">bytes in</text>
    <rect class="bar-out" x="${PAD.left + 132}" y="${PAD.top - 8}" width="10" height="10"/><text x="${PAD.left + 146}" y="${PAD.top + 2}">bytes out</text>
    ${groups}
  </svg>`;
}
