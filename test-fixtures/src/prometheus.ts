// Prometheus text exposition (format 0.0.4), parsed strictly, for tests that scrape /metrics.

export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** The samples and declared types of a scrape; throws on any line that is not valid. */
export function parsePrometheus(text: string): {
  samples: PrometheusSample[];
  types: Map<string, string>;
} {
  const samples: PrometheusSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!TYPES.includes(type ?? '')) throw new Error(`bad type: ${line}`);
      types.set(name!, type!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) {
      let consumed = 0;
      for (const l of m[2].matchAll(LABEL)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        consumed += l[0].length;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    // Prometheus parses values with Go's ParseFloat, which takes NaN in any case; prom-client
    // writes `Nan` for a gauge not yet measured (the event-loop lag right after start).
    if (Number.isNaN(value) && m[3]?.toLowerCase() !== 'nan') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

/** The value of the first sample named `name` whose labels include `labels`. */
export function sampleValue(
  samples: readonly PrometheusSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}
