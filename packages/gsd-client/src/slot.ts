import { GsdError } from './errors.js';

/** The 8 bytes every GSD share starts with. */
export const SLOT_MAGIC = new Uint8Array(Buffer.from('OSTRGSD1', 'ascii'));
/** Magic and seqnum: what a writer's test vector compares. */
export const SLOT_HEADER_BYTES = 16;

/** Share data of a slot: magic ‖ seqnum (uint64 big-endian) ‖ document. */
export function encodeSlotData(seqnum: number, document: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(seqnum) || seqnum < 0) {
    throw new RangeError('seqnum must be a safe integer ≥ 0');
  }
  const out = new Uint8Array(SLOT_HEADER_BYTES + document.length);
  out.set(SLOT_MAGIC);
  new DataView(out.buffer).setBigUint64(8, BigInt(seqnum), false);
  out.set(document, SLOT_HEADER_BYTES);
  return out;
}

/** Splits share data into seqnum and document; GsdError `BAD_DOCUMENT` (reason `slot`) otherwise. */
export function decodeSlotData(data: Uint8Array): { seqnum: number; document: Uint8Array } {
  if (data.length < SLOT_HEADER_BYTES) {
    throw new GsdError('BAD_DOCUMENT', `the share holds ${data.length} bytes, less than a header`, {
      reason: 'slot',
    });
  }
  if (!Buffer.from(data.subarray(0, 8)).equals(Buffer.from(SLOT_MAGIC))) {
    throw new GsdError('BAD_DOCUMENT', 'the share does not start with OSTRGSD1', {
      reason: 'slot',
    });
  }
  const big = new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(8, false);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GsdError('BAD_DOCUMENT', 'the seqnum is beyond 2^53 − 1', { reason: 'slot' });
  }
  return { seqnum: Number(big), document: data.subarray(SLOT_HEADER_BYTES) };
}

/** The bytes a writer's test vector expects: the share's first 16 bytes, or none if absent. */
export function slotHeaderOf(data: Uint8Array | undefined): Uint8Array {
  return data === undefined ? new Uint8Array(0) : data.slice(0, SLOT_HEADER_BYTES);
}
