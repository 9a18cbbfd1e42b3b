// Small helpers shared by the codecs. Encoders validate their arguments here and throw
// TypeError/RangeError; decoders only ever see ranges they checked against the file size.

/** Largest value of Tahoe's `>L` fields (lease counts, owner numbers, expiration times). */
export const U32_MAX = 0xffff_ffff;

/** Throws unless `value` is a Uint8Array of exactly `length` bytes. */
export function assertBytes(
  name: string,
  value: unknown,
  length: number,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new TypeError(`${name} must be ${length} bytes`);
  }
}

/** Throws unless `value` fits an unsigned 32-bit field. */
export function assertU32(name: string, value: unknown): asserts value is number {
  if (!Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  if ((value as number) < 0 || (value as number) > U32_MAX) {
    throw new RangeError(`${name} must be within 0–${U32_MAX}, got ${String(value)}`);
  }
}

/** Throws unless `value` is a safe non-negative integer (a size or an offset). */
export function assertSize(name: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${name} must be a safe integer`);
  if ((value as number) < 0) throw new RangeError(`${name} must not be negative`);
}

/** A DataView over exactly `bytes`, wherever it sits in its buffer. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One new array holding `parts` in order. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Whether two byte arrays hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
