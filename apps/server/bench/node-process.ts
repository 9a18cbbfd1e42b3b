// One side of the server benchmark in a process of its own, so that the load generator (the
// benchmark's main process) does not share its event loop: the node (`OSTROM_BENCH_SIDE=node`,
// in the node directory OSTROM_BENCH_DIR) or the bare HTTPS baseline (`bare`). It tells its
// parent over IPC where it listens, answers `rss` with its resident set size, and closes on
// `close`.

import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { startNode } from '../src/server.js';
import { startBaseline } from './baseline.js';

type Message =
  | { kind: 'rss' }
  | { kind: 'close' }
  | { kind: 'profile'; start: true }
  | { kind: 'profile'; start: false; path: string };

const side = process.env.OSTROM_BENCH_SIDE;
const send = (message: unknown) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );

async function main(): Promise<void> {
  let close: () => Promise<void>;
  if (side === 'node') {
    const running = await startNode(process.env.OSTROM_BENCH_DIR!, {
      port: 0,
      sweepIntervalSeconds: 0,
    });
    close = () => running.close();
    await send({ kind: 'ready', port: running.port, nurl: running.nurl });
  } else if (side === 'bare') {
    const baseline = await startBaseline({
      keyPem: process.env.OSTROM_BENCH_KEY!,
      certPem: process.env.OSTROM_BENCH_CERT!,
      versionBody: Buffer.from(process.env.OSTROM_BENCH_VERSION!, 'base64'),
      shareBytes: Number(process.env.OSTROM_BENCH_SHARE_BYTES),
    });
    close = () => baseline.close();
    await send({ kind: 'ready', port: baseline.port });
  } else {
    throw new Error(`OSTROM_BENCH_SIDE must be node or bare, not ${side}`);
  }
  process.on('message', (message: Message) => {
    if (message.kind === 'rss') {
      const cpu = process.cpuUsage();
      void send({ kind: 'rss', rss: process.memoryUsage.rss(), cpuMicros: cpu.user + cpu.system });
    }
    if (message.kind === 'profile') void profile(message);
    if (message.kind === 'close') {
      void close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    }
  });
}

/** Starts the V8 CPU profiler, or stops it and writes the profile to `path` (a .cpuprofile). */
async function profile(message: Extract<Message, { kind: 'profile' }>): Promise<void> {
  if (!session) {
    session = new Session();
    session.connect();
  }
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session!.post(method, (error, result) => (error ? reject(error) : resolve(result))),
    );
  if (message.start) {
    await post('Profiler.enable');
    await post('Profiler.start');
  } else {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    await writeFile(message.path, JSON.stringify(profile));
  }
  await send({ kind: 'profiled' });
}
let session: Session | undefined;

await main();
