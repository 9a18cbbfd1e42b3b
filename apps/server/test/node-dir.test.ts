import { existsSync } from 'node:fs';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { NodeError } from '../src/errors.js';
import { initNode, loadNode, PRIVATE_FILES } from '../src/node-dir.js';

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function loadError(dir: string): Promise<NodeError> {
  try {
    await loadNode(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(NodeError);
    return error as NodeError;
  }
  throw new Error('expected loadNode to fail');
}

describe('initNode(dir)', () => {
  it('creates the config and private files with the right modes', async () => {
    const dir = join(await tempDir(), 'node');
    const node = await initNode(dir, { nickname: 'n1', port: 4000 });
    expect(await mode(join(dir, 'private'))).toBe(0o700);
    // The S3 credentials and the database URL are the operator's to write; the grid service
    // directory's writecaps and membership key are made on first need (gsd-files.test.ts,
    // gsd-membership.test.ts).
    const later = ['s3-credentials', 'database-url', '.writecap', 'gsd-membership.key'];
    for (const file of Object.values(PRIVATE_FILES).filter(
      (f) => !later.some((l) => f.endsWith(l)),
    )) {
      expect(await mode(join(dir, file))).toBe(0o600);
    }
    expect(existsSync(join(dir, PRIVATE_FILES.gsdAnnouncement))).toBe(false);
    expect(existsSync(join(dir, PRIVATE_FILES.gsdDirectory))).toBe(false);
    expect(existsSync(join(dir, PRIVATE_FILES.gsdMembership))).toBe(false);
    expect(node.config.node.nickname).toBe('n1');
    expect(node.config.storage.port).toBe(4000);
    expect(node.tubId).toMatch(/^[a-z2-7]{32}$/);
    expect(node.tubIdBytes).toHaveLength(20);
    expect(node.serverId).toMatch(/^v0-[a-z2-7]{52}$/);
    expect(node.serverSecret).toHaveLength(32);
    expect(node.stateKey).toHaveLength(32);
    expect(node.tls.spkiHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('gives the same identity when loaded again', async () => {
    const dir = await tempDir();
    const created = await initNode(dir);
    const loaded = await loadNode(dir);
    expect(loaded.serverId).toBe(created.serverId);
    expect(loaded.tubId).toBe(created.tubId);
    expect(loaded.tls.spkiHash).toBe(created.tls.spkiHash);
  });

  it('refuses to overwrite an existing node (NODE_EXISTS), changing nothing', async () => {
    const dir = await tempDir();
    const first = await initNode(dir);
    await expect(initNode(dir)).rejects.toMatchObject({ code: 'NODE_EXISTS' });
    expect((await loadNode(dir)).serverId).toBe(first.serverId);
  });

  it('refuses bad values before writing anything', async () => {
    const dir = join(await tempDir(), 'node');
    await expect(initNode(dir, { listen: '0.0.0.0' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('loadNode(dir)', () => {
  it('NODE_MISSING for a directory without a node', async () => {
    expect((await loadError(await tempDir())).code).toBe('NODE_MISSING');
  });

  it.each([
    [PRIVATE_FILES.tubId, ''],
    [PRIVATE_FILES.tubId, 'short\n'],
    [PRIVATE_FILES.serverSecret, 'not base32!\n'],
    [PRIVATE_FILES.stateKey, 'aaaa\n'],
    [PRIVATE_FILES.tlsCert, 'garbage'],
    [PRIVATE_FILES.tlsKey, 'garbage'],
    [PRIVATE_FILES.nodeKey, 'garbage'],
  ])('NODE_DAMAGED naming %s when it is corrupt', async (file, content) => {
    const dir = await tempDir();
    await initNode(dir);
    await writeFile(join(dir, file), content);
    const error = await loadError(dir);
    expect(error.code).toBe('NODE_DAMAGED');
    expect(error.message).toContain(file);
  });

  it('NODE_DAMAGED when a private file is missing', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, PRIVATE_FILES.nodeKey));
    const error = await loadError(dir);
    expect(error.code).toBe('NODE_DAMAGED');
    expect(error.message).toContain('node.key is missing');
  });

  it('NODE_DAMAGED when the TLS key does not match the certificate', async () => {
    const a = await tempDir();
    const b = await tempDir();
    await initNode(a);
    await initNode(b);
    const { copyFile } = await import('node:fs/promises');
    await copyFile(join(b, PRIVATE_FILES.tlsKey), join(a, PRIVATE_FILES.tlsKey));
    const error = await loadError(a);
    expect(error.code).toBe('NODE_DAMAGED');
    expect(error.message).toContain('does not match');
  });

  it('CONFIG_INVALID naming the key for a bad config', async () => {
    const dir = await tempDir();
    await initNode(dir);
    await writeFile(join(dir, 'ostrom.toml'), '[storage]\nport = "abc"\n');
    const error = await loadError(dir);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('[storage] port');
  });
});

describe('private/database-url', () => {
  const URL_WITH_PASSWORD = 'postgres://ostrom:s3cret@db.example.net/ostrom';

  it('gives the PostgreSQL URL (password and all) when ostrom.toml names no database', async () => {
    const dir = await tempDir();
    await initNode(dir);
    await writeFile(join(dir, PRIVATE_FILES.databaseUrl), `${URL_WITH_PASSWORD}\n`, {
      mode: 0o600,
    });
    expect((await loadNode(dir)).config.database).toEqual({
      kind: 'postgres',
      url: URL_WITH_PASSWORD,
    });
  });

  it('is refused when others may read it, names no database beside ostrom.toml, and must be a URL', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const file = join(dir, PRIVATE_FILES.databaseUrl);
    await writeFile(file, URL_WITH_PASSWORD, { mode: 0o644 });
    await expect(loadNode(dir)).rejects.toMatchObject({
      code: 'NODE_DAMAGED',
      message: expect.stringContaining('chmod 600'),
    });
    await chmod(file, 0o600);
    await writeFile(file, 'mysql://nope');
    await expect(loadNode(dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('private/database-url: expected a postgres://'),
    });

    const both = await tempDir();
    await initNode(both, { databaseUrl: 'postgres://ostrom@db.example.net/ostrom' });
    await writeFile(join(both, PRIVATE_FILES.databaseUrl), URL_WITH_PASSWORD, { mode: 0o600 });
    await expect(loadNode(both)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(
        '[database] url: the database is given in private/database-url too',
      ),
    });
  });
});
