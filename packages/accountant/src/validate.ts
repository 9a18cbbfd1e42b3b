import {
  isShareNumber,
  isStorageIndex,
  LEASE_SECRET_BYTES,
  MAX_SHNUM,
} from '@ostrom/protocol/facts';
import type { AccountReadTestWriteOptions, AllocateOptions, LeaseSecrets } from './types.js';

// The HTTP layer decodes and validates requests (`@ostrom/protocol`); these checks guard the
// accountant's own contract for embedders that call it directly. Misuse throws TypeError or
// RangeError, as everywhere in Ostrom.

export function checkStorageIndex(storageIndex: string): void {
  if (!isStorageIndex(storageIndex)) {
    throw new TypeError(`not a storage index: ${String(storageIndex).slice(0, 40)}`);
  }
}

export function checkShnum(shnum: number): void {
  if (!isShareNumber(shnum)) {
    throw new RangeError(`share numbers are 0–${MAX_SHNUM}`);
  }
}

function checkBytes(name: string, value: unknown, length?: number): void {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    throw new TypeError(`${name} must be non-empty bytes`);
  }
  if (length !== undefined && value.length !== length) {
    throw new TypeError(`${name} must be ${length} bytes`);
  }
}

function checkOffset(name: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new RangeError(`${name} must be a non-negative integer`);
  }
}

export function checkLeaseSecrets(secrets: LeaseSecrets): void {
  checkBytes('renewSecret', secrets?.renewSecret, LEASE_SECRET_BYTES);
  checkBytes('cancelSecret', secrets?.cancelSecret, LEASE_SECRET_BYTES);
}

export function checkUploadSecret(secret: Uint8Array): void {
  checkBytes('uploadSecret', secret);
}

export function checkAllocateOptions(request: AllocateOptions): void {
  checkLeaseSecrets(request);
  checkUploadSecret(request.uploadSecret);
  checkOffset('allocatedSize', request.allocatedSize);
  if (!Array.isArray(request.shareNumbers) || request.shareNumbers.length > MAX_SHNUM + 1) {
    throw new TypeError(`shareNumbers must list at most ${MAX_SHNUM + 1} share numbers`);
  }
  for (const shnum of request.shareNumbers) checkShnum(shnum);
}

export function checkReadTestWrite(request: AccountReadTestWriteOptions): void {
  checkLeaseSecrets(request);
  checkBytes('writeEnabler', request.writeEnabler);
  if (!(request.testWriteVectors instanceof Map)) {
    throw new TypeError('testWriteVectors must be a Map of share number to vectors');
  }
  for (const [shnum, vector] of request.testWriteVectors) {
    checkShnum(shnum);
    for (const test of vector.test) {
      checkOffset('test offset', test.offset);
      checkOffset('test size', test.size);
      if (!(test.specimen instanceof Uint8Array)) throw new TypeError('specimen must be bytes');
    }
    for (const write of vector.write) {
      checkOffset('write offset', write.offset);
      if (!(write.data instanceof Uint8Array)) throw new TypeError('write data must be bytes');
      checkOffset('write end', write.offset + write.data.length);
    }
    if (vector.newLength !== null) checkOffset('newLength', vector.newLength);
  }
  for (const read of request.readVector) {
    checkOffset('read offset', read.offset);
    checkOffset('read size', read.size);
  }
}
