import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccountantError } from '@ostrom/accountant';
import { freePort } from '@ostrom/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { createUploadForwarder, FORWARDED_HEADER } from '../src/forward.js';
import { HttpError, storageStatusFor } from '../src/status.js';
import { CERTIFICATE } from './http-setup.js';

// The forwarder's own refusals; forwarding itself runs end to end in multi-node.test.ts.

function elsewhere(url: string) {
  return new AccountantError('UPLOAD_ELSEWHERE', 'held elsewhere', {
    details: { processId: 'peer', url },
  });
}

const request = (headers: Record<string, string> = {}) =>
  ({ method: 'PATCH', url: '/storage/v1/immutable/x/0', headers }) as unknown as IncomingMessage;
const response = {} as ServerResponse;

describe('upload forwarder', () => {
  const forwarder = createUploadForwarder({ spkiHash: CERTIFICATE.spkiHash, processId: 'me' });
  afterAll(() => forwarder.close());

  it('leaves every other error to the caller', async () => {
    for (const error of [new AccountantError('NOT_FOUND', 'no'), new Error('boom'), undefined]) {
      expect(await forwarder.forward(error, request(), response)).toBe(false);
    }
  });

  it('never forwards a request a second time', async () => {
    const forwarded = request({ [FORWARDED_HEADER]: 'other' });
    const attempt = forwarder.forward(elsewhere('https://127.0.0.1:1'), forwarded, response);
    await expect(attempt).rejects.toBeInstanceOf(HttpError);
    await expect(attempt).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(storageStatusFor(await attempt.catch((error: unknown) => error))).toBe(404);
  });

  it('a holder that cannot be reached is UNAVAILABLE (503), not a crash', async () => {
    const port = await freePort();
    await expect(
      forwarder.forward(elsewhere(`https://127.0.0.1:${port}`), request(), response),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
