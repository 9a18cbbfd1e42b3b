import type { ByteRange, MutableWriteRequest } from './types.js';
import { checkOffset } from './validate.js';

// Argument checks shared by every backend's write paths, so that all of them refuse the same
// misuse the same way (TypeError/RangeError before anything is written).

export function checkUploadSize(sizeBytes: unknown, maxShareBytes: number): number {
  checkOffset('sizeBytes', sizeBytes);
  if ((sizeBytes as number) > maxShareBytes) {
    throw new RangeError(`a share may hold at most ${maxShareBytes} bytes`);
  }
  return sizeBytes as number;
}

/** The byte range a chunk covers; RangeError if it does not fit in the upload. */
export function checkUploadChunk(offset: unknown, data: unknown, sizeBytes: number): ByteRange {
  checkOffset('offset', offset);
  if (!(data instanceof Uint8Array)) throw new TypeError('chunk data must be a Uint8Array');
  const end = (offset as number) + data.length;
  if (end > sizeBytes) {
    throw new RangeError(`chunk [${offset}, ${end}) runs past the upload's ${sizeBytes} bytes`);
  }
  return { begin: offset as number, end };
}

export function checkMutableRequest(request: MutableWriteRequest, maxShareBytes: number): void {
  if (!(request.writeEnabler instanceof Uint8Array) || request.writeEnabler.length !== 32) {
    throw new TypeError('writeEnabler must be 32 bytes');
  }
  if (
    request.writeEnablerNodeId !== undefined &&
    (!(request.writeEnablerNodeId instanceof Uint8Array) ||
      request.writeEnablerNodeId.length !== 20)
  ) {
    throw new TypeError('writeEnablerNodeId must be 20 bytes');
  }
  if (!Array.isArray(request.writes)) throw new TypeError('writes must be a list');
  for (const write of request.writes) {
    checkOffset('write offset', write.offset);
    if (!(write.data instanceof Uint8Array)) throw new TypeError('write data must be a Uint8Array');
    if (write.offset + write.data.length > maxShareBytes) {
      throw new RangeError(`a share may hold at most ${maxShareBytes} bytes`);
    }
  }
  if (request.newLength != null) checkOffset('newLength', request.newLength);
}
