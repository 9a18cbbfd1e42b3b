// Encode+decode throughput of our message functions against raw cbor-x with the same options.
// Not part of the test suite: `pnpm --filter @ostrom/protocol bench`.
import { Decoder, Encoder } from 'cbor-x';
import {
  decodeAllocateRequest,
  decodeReadTestWriteRequest,
  decodeVersion,
  encodeAllocateRequest,
  encodeReadTestWriteRequest,
  encodeVersion,
} from '../src/index.js';

const rawEncoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  variableMapSize: true,
  tagUint8Array: false,
  ...{ useTag259ForMaps: false },
});
const rawDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });

function opsPerSecond(fn: () => void, minMs = 500): number {
  for (let i = 0; i < 50; i++) fn(); // warm-up
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}

const write = new Uint8Array(1024 * 1024).fill(7);
const cases: { name: string; ours: () => void; raw: () => void }[] = [
  {
    name: 'allocate request',
    ours: () =>
      decodeAllocateRequest(
        encodeAllocateRequest({ shareNumbers: [0, 1, 2, 3], allocatedSize: 1049073 }),
      ),
    raw: () =>
      rawDecoder.decode(
        rawEncoder.encode({ 'share-numbers': new Set([0, 1, 2, 3]), 'allocated-size': 1049073 }),
      ),
  },
  {
    name: 'RTW request, 1 MiB write',
    ours: () =>
      decodeReadTestWriteRequest(
        encodeReadTestWriteRequest({
          testWriteVectors: new Map([
            [
              0,
              {
                test: [{ offset: 0, size: 57, specimen: write.subarray(0, 57) }],
                write: [{ offset: 0, data: write }],
                newLength: null,
              },
            ],
          ]),
          readVector: [{ offset: 0, size: 57 }],
        }),
      ),
    raw: () =>
      rawDecoder.decode(
        rawEncoder.encode({
          'test-write-vectors': new Map([
            [
              0,
              {
                test: [{ offset: 0, size: 57, specimen: write.subarray(0, 57) }],
                write: [{ offset: 0, data: write }],
                'new-length': null,
              },
            ],
          ]),
          'read-vector': [{ offset: 0, size: 57 }],
        }),
      ),
  },
  {
    name: 'version response',
    ours: () =>
      decodeVersion(
        encodeVersion({
          maximumImmutableShareSize: 2 ** 40,
          maximumMutableShareSize: 69105e12,
          availableSpace: 2 ** 40,
          applicationVersion: 'ostrom/0.1.0',
        }),
      ),
    raw: () => {
      const b = (s: string) => Buffer.from(s);
      rawDecoder.decode(
        rawEncoder.encode(
          new Map<Buffer, unknown>([
            [
              b('http://allmydata.org/tahoe/protocols/storage/v1'),
              new Map([
                [b('maximum-immutable-share-size'), 2n ** 40n],
                [b('maximum-mutable-share-size'), 69105n * 10n ** 12n],
                [b('available-space'), 2n ** 40n],
              ]),
            ],
            [b('application-version'), b('ostrom/0.1.0')],
          ]),
        ),
      );
    },
  },
];

console.log('case                        ours ops/s    raw cbor-x ops/s   ours/raw');
for (const c of cases) {
  const ours = opsPerSecond(c.ours);
  const raw = opsPerSecond(c.raw);
  console.log(
    `${c.name.padEnd(26)} ${ours.toFixed(0).padStart(12)} ${raw.toFixed(0).padStart(18)} ${(ours / raw).toFixed(2).padStart(10)}`,
  );
}
