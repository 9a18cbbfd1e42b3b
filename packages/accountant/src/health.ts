// Whether the two services a node depends on, its lease database and its share store, answer
// now: probed cheaply, at most once per `cacheMs` each however often asked (a health check
// scraped every second must not become load), and each change of state told once (down, and
// back up with how long it was away), so an operator's log says when an outage began and ended.

/** The services a node depends on. */
export const DEPENDENCIES = ['database', 'store'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

export interface DependencyState {
  /** Whether its last probe succeeded (true before the first). */
  readonly up: boolean;
  /** When it last changed state (ms since the epoch; the monitor's start before any change). */
  readonly since: number;
  /** When it was last probed (ms), or null before the first probe. */
  readonly checkedAt: number | null;
  /** The last failure's message, for the operator, while it is down. */
  readonly error?: string;
}

export type HealthReport = { readonly [D in Dependency]: DependencyState } & {
  /** Both are up. */
  readonly ok: boolean;
};

/** A change of state of one dependency. */
export interface HealthChange {
  readonly dependency: Dependency;
  readonly up: boolean;
  /** Back up: how long it was down, ms. */
  readonly downMs?: number;
  /** Down: why. */
  readonly error?: string;
}

const DEPENDENCY_NAMES: Readonly<Record<Dependency, string>> = {
  database: 'the lease database',
  store: 'the share store',
};

/**
 * A change as the operator's log line says it: an error when a service went away (clients get
 * 503 meanwhile), a warning when it came back, with how long it was away.
 */
export function describeHealthChange(change: HealthChange): {
  readonly level: 'error' | 'warn';
  readonly message: string;
} {
  const name = DEPENDENCY_NAMES[change.dependency];
  if (!change.up) {
    return { level: 'error', message: `${name} is unavailable: clients get 503 until it is back` };
  }
  const seconds = ((change.downMs ?? 0) / 1000).toFixed(1);
  return { level: 'warn', message: `${name} is back after ${seconds} s` };
}

export interface DependencyHealthOptions {
  /** One cheap request to each service; a rejection means it is down. */
  readonly probes: { readonly [D in Dependency]: () => Promise<unknown> };
  /** How long a probe's result stands, ms (default 3000). */
  readonly cacheMs?: number;
  /** Default `Date.now`. */
  readonly now?: () => number;
  /** Told each change of state, once. */
  readonly onChange?: (change: HealthChange) => void;
  /**
   * While a service is down, it is probed again this often (ms; default 2000, 0: only when
   * asked), so that its return is noticed, and told, without anyone asking. The timer does not
   * keep the process alive; `close()` stops it.
   */
  readonly recheckMs?: number;
}

export class DependencyHealth {
  readonly #options: DependencyHealthOptions;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #states = new Map<Dependency, DependencyState>();
  readonly #probing = new Map<Dependency, Promise<DependencyState>>();
  readonly #rechecks = new Map<Dependency, ReturnType<typeof setTimeout>>();
  readonly #recheckMs: number;
  #closed = false;

  constructor(options: DependencyHealthOptions) {
    this.#options = options;
    this.#cacheMs = options.cacheMs ?? 3000;
    if (!Number.isSafeInteger(this.#cacheMs) || this.#cacheMs < 0) {
      throw new RangeError('cacheMs must be a non-negative integer');
    }
    this.#now = options.now ?? Date.now;
    this.#recheckMs = options.recheckMs ?? 2000;
    if (!Number.isSafeInteger(this.#recheckMs) || this.#recheckMs < 0) {
      throw new RangeError('recheckMs must be a non-negative integer');
    }
    const started = this.#now();
    for (const dependency of DEPENDENCIES) {
      this.#states.set(dependency, { up: true, since: started, checkedAt: null });
    }
  }

  /** The states as last known, without probing. */
  current(): HealthReport {
    const database = this.#states.get('database')!;
    const store = this.#states.get('store')!;
    return { database, store, ok: database.up && store.up };
  }

  /** Probes each service whose last result is older than `cacheMs` (side by side), then reports. */
  async check(): Promise<HealthReport> {
    await Promise.all(DEPENDENCIES.map((dependency) => this.#probe(dependency)));
    return this.current();
  }

  /**
   * Records what an operation found, without a probe: the service answered (up) or was
   * unavailable (down). Operations see an outage before any probe does.
   */
  observe(dependency: Dependency, up: boolean, error?: unknown): void {
    this.#set(dependency, up, error);
  }

  /** Stops the probes of services that are down. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#rechecks.values()) clearTimeout(timer);
    this.#rechecks.clear();
  }

  #probe(dependency: Dependency, fresh = false): Promise<DependencyState> {
    const state = this.#states.get(dependency)!;
    if (!fresh && state.checkedAt !== null && this.#now() - state.checkedAt < this.#cacheMs) {
      return Promise.resolve(state);
    }
    let probing = this.#probing.get(dependency);
    if (!probing) {
      probing = this.#options.probes[dependency]().then(
        () => this.#set(dependency, true),
        (error: unknown) => this.#set(dependency, false, error),
      );
      probing.finally(() => this.#probing.delete(dependency)).catch(() => undefined);
      this.#probing.set(dependency, probing);
    }
    return probing;
  }

  #set(dependency: Dependency, up: boolean, error?: unknown): DependencyState {
    const at = this.#now();
    const before = this.#states.get(dependency)!;
    const message = up ? undefined : describe(error);
    const next: DependencyState = {
      up,
      since: before.up === up ? before.since : at,
      checkedAt: at,
      ...(message === undefined ? {} : { error: message }),
    };
    this.#states.set(dependency, next);
    if (!up) this.#recheck(dependency);
    if (before.up !== up) {
      this.#options.onChange?.(
        up
          ? { dependency, up, downMs: at - before.since }
          : { dependency, up, ...(message === undefined ? {} : { error: message }) },
      );
    }
    return next;
  }

  #recheck(dependency: Dependency): void {
    if (this.#closed || this.#recheckMs === 0 || this.#rechecks.has(dependency)) return;
    const timer = setTimeout(() => {
      this.#rechecks.delete(dependency);
      void this.#probe(dependency, true);
    }, this.#recheckMs);
    timer.unref();
    this.#rechecks.set(dependency, timer);
  }
}

function describe(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  // The root cause says most (a refused connection, a terminated session).
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
