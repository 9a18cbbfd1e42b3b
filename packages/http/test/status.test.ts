import { AccountantError } from '@ostrom/accountant';
import { BackendError } from '@ostrom/backend';
import { LeaseDbError } from '@ostrom/leasedb';
import { ProtocolError } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_ERROR_STATUS,
  ADMIN_HTTP_ERROR_CODES,
  AdminHttpError,
  adminStatusFor,
  failureAnswer,
} from '../src/admin/errors.js';
import {
  HTTP_ERROR_CODES,
  HttpError,
  STORAGE_ERROR_STATUS,
  storageStatusFor,
} from '../src/status.js';

describe('the storage API’s table (STORAGE_ERROR_STATUS)', () => {
  it('storageStatusFor(HttpError) answers what the handler answered before codes, as Tahoe does', () => {
    // The statuses the storage handler passed as numbers before it had codes; Tahoe's client
    // checks 401, 404, 405 and 416 exactly (docs/TAHOE-COMPATIBILITY.md fact 17).
    const expected = {
      BAD_REQUEST: 400,
      UNAUTHORIZED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      METHOD_NOT_SUPPORTED: 405,
      NOT_ACCEPTABLE: 406,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      RANGE_NOT_SATISFIABLE: 416,
      OVERLOADED: 503,
    };
    expect(Object.keys(expected).sort()).toEqual([...HTTP_ERROR_CODES].sort());
    for (const code of HTTP_ERROR_CODES) {
      expect(storageStatusFor(new HttpError(code, 'refused')), code).toBe(expected[code]);
    }
  });

  it('storageStatusFor(error) reads the accountant’s and the protocol’s rows, and knows nothing else', () => {
    expect(storageStatusFor(new AccountantError('QUOTA_EXCEEDED', 'full'))).toBe(403);
    expect(storageStatusFor(new AccountantError('ALREADY_COMPLETE', 'done'))).toBe(405);
    expect(storageStatusFor(new ProtocolError('INVALID_RANGE', 'range'))).toBe(416);
    expect(STORAGE_ERROR_STATUS.accountant.UPLOAD_LIMIT).toBe(503);
    // The admin API's refusals and the lease database's are not the storage API's.
    expect(storageStatusFor(new AdminHttpError('CONFLICT', 'no'))).toBeUndefined();
    expect(storageStatusFor(new LeaseDbError('BUSY', 'busy'))).toBeUndefined();
    expect(storageStatusFor(new Error('boom'))).toBeUndefined();
  });

  it('new HttpError(code, message, { headers, cause }) keeps what it is given', () => {
    const cause = new Error('disk full');
    const error = new HttpError('OVERLOADED', 'later', { headers: { 'Retry-After': '1' }, cause });
    expect(error).toMatchObject({ code: 'OVERLOADED', headers: { 'Retry-After': '1' }, cause });
  });
});

describe('the admin API’s table (ADMIN_ERROR_STATUS)', () => {
  it('gives each admin code its own status, so that a status names one code', () => {
    const statuses = ADMIN_HTTP_ERROR_CODES.map((code) => ADMIN_ERROR_STATUS.admin[code]);
    expect(new Set(statuses).size).toBe(ADMIN_HTTP_ERROR_CODES.length);
    for (const code of ADMIN_HTTP_ERROR_CODES) {
      expect(adminStatusFor(new AdminHttpError(code, 'refused')), code).toBe(
        ADMIN_ERROR_STATUS.admin[code],
      );
    }
  });

  it('adminStatusFor(error): its own rows for the accountant and the database, 503 for a store away, 400 for misuse, nothing else', () => {
    // Unlike the storage API's: a quota refusal is a conflict with the account's state.
    expect(adminStatusFor(new AccountantError('QUOTA_EXCEEDED', 'full'))).toBe(409);
    expect(adminStatusFor(new AccountantError('INVALID_OPERATION', 'not pending'))).toBe(409);
    expect(adminStatusFor(new LeaseDbError('UNKNOWN_ACCOUNT', 'no'))).toBe(404);
    expect(adminStatusFor(new BackendError('UNAVAILABLE', 'away'))).toBe(503);
    expect(adminStatusFor(new RangeError('nickname too long'))).toBe(400);
    expect(adminStatusFor(new HttpError('NOT_FOUND', 'storage'))).toBeUndefined();
    expect(adminStatusFor(new Error('boom'))).toBeUndefined();
  });

  it('failureAnswer(error) hides what an unavailable service said, and logs every 5xx', () => {
    const logged: unknown[] = [];
    const log = (error: unknown) => logged.push(error);
    const away = new LeaseDbError('UNAVAILABLE', 'connect ECONNREFUSED 10.0.0.5:5432 password=x');
    expect(failureAnswer(away, 'internal', log)).toEqual({
      status: 503,
      message: 'the lease database is unavailable; try again later',
      headers: { 'Retry-After': '5' },
    });
    const store = failureAnswer(new BackendError('IO', '/srv/shares/ab/cd: EIO'), 'internal', log);
    expect(store.message).toBe('the share store is unavailable; try again later');
    const boom = new Error('secret detail');
    expect(failureAnswer(boom, 'internal', log)).toEqual({
      status: 500,
      message: 'internal',
      headers: {},
    });
    const refused = new AdminHttpError('METHOD_NOT_SUPPORTED', 'method not allowed', {
      headers: { Allow: 'GET' },
    });
    expect(failureAnswer(refused, 'internal', log)).toEqual({
      status: 405,
      message: 'method not allowed',
      headers: { Allow: 'GET' },
    });
    expect(logged).toEqual([away, expect.any(BackendError), boom]);
  });
});
