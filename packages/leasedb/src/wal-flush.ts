import { close, fdatasync, open } from 'node:fs';

/**
 * Makes SQLite commits durable off the event loop. better-sqlite3 runs on the event loop, and
 * with `synchronous = FULL` every COMMIT waits there for an fsync of the write-ahead log, which
 * stops every request meanwhile. Instead the connection runs with `synchronous = NORMAL` (a
 * COMMIT writes the log without flushing it; SQLite still flushes the log before each checkpoint
 * and the database file after it) and each writer, once committed, waits for a flush of the log
 * file made here, in libuv's pool, before it is told its write is done. Commits made while a
 * flush runs share the next one: this is the group commit.
 *
 * The log's file stays the same while the connection is open (SQLite removes it only when the
 * last connection closes, and truncates it only with `journal_size_limit`, which is not set), so
 * one descriptor, opened at the first flush, covers every commit. A commit whose frames a
 * checkpoint has already copied is covered too: SQLite flushed the log before that checkpoint.
 */
export class WalFlusher {
  readonly #path: string;
  readonly #wrap: (flush: () => Promise<void>) => Promise<void>;
  #fd: Promise<number> | undefined;
  /** The flush running now: it may have started before the caller's commit. */
  #running: Promise<void> | undefined;
  /** The flush that starts once `#running` ends, shared by everyone who asks meanwhile. */
  #next: Promise<void> | undefined;

  constructor(walPath: string, wrap?: (flush: () => Promise<void>) => Promise<void>) {
    this.#path = walPath;
    this.#wrap = wrap ?? ((flush) => flush());
  }

  /** Resolves once everything committed before this call is on the disk. */
  flush(): Promise<void> {
    if (!this.#running) return this.#start();
    this.#next ??= this.#running.then(
      () => this.#startNext(),
      () => this.#startNext(),
    );
    return this.#next;
  }

  /** Closes the descriptor (after the flushes in progress). */
  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    const fd = await this.#fd?.catch(() => undefined);
    this.#fd = undefined;
    if (fd !== undefined) await new Promise<void>((resolve) => close(fd, () => resolve()));
  }

  #startNext(): Promise<void> {
    this.#next = undefined;
    return this.#start();
  }

  #start(): Promise<void> {
    const flushing = this.#wrap(() => this.#fdatasync()).finally(() => {
      if (this.#running === flushing) this.#running = undefined;
    });
    this.#running = flushing;
    return flushing;
  }

  async #fdatasync(): Promise<void> {
    this.#fd ??= new Promise<number>((resolve, reject) =>
      open(this.#path, 'r', (error, fd) => (error ? reject(error) : resolve(fd))),
    );
    let fd: number;
    try {
      fd = await this.#fd;
    } catch (error) {
      this.#fd = undefined; // tried again at the next flush
      throw error;
    }
    await new Promise<void>((resolve, reject) =>
      fdatasync(fd, (error) => (error ? reject(error) : resolve())),
    );
  }
}
