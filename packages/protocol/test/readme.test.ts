import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's examples run as written: what they export is what they claim. The example against
// a storage node is `no-run` (this package has no node to run it against).

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const [client, derivations, ...rest] = readmeExamples(`${packageDir}README.md`);

it('the README has the pinned-client example and the derivations example, and no other to run', () => {
  expect([client, derivations].every(Boolean)).toBe(true);
  expect(rest).toEqual([]);
});

it('the client example reads the version through the pin and is refused under another pin', async () => {
  const exported = await runExample(packageDir, client!);
  expect(exported.availableSpace).toBe(2 ** 40);
  expect(exported.applicationVersion).toBe('stand-in/1');
  expect(exported.refused).toBe('PIN_MISMATCH');
});

it('the derivations example derives lease secrets and signs a request the server verifies', async () => {
  const exported = await runExample(packageDir, derivations!);
  expect(exported.renewSecret).toHaveLength(32);
  expect(exported.cancelSecret).toHaveLength(32);
  expect(exported.renewSecret).not.toEqual(exported.cancelSecret);
  expect(exported.request).toMatchObject({
    serverId: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    nickname: 'laptop',
  });
  expect(exported.fingerprint).toMatch(/^[a-z2-7]{16}$/);
});
