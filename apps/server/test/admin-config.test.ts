import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, parseConfig, renderConfig } from '../src/config.js';
import { initNode } from '../src/node-dir.js';
import { startNode } from '../src/server.js';

describe('[admin] config', () => {
  it('defaults to enabled on the storage port + 1', () => {
    expect(parseConfig('').admin).toEqual({ enabled: true, port: DEFAULT_PORT + 1 });
    expect(parseConfig('[storage]\nport = 9000\n').admin).toEqual({ enabled: true, port: 9001 });
    expect(parseConfig('[admin]\nport = 7000\nenabled = false\n').admin).toEqual({
      enabled: false,
      port: 7000,
    });
    expect(parseConfig('[admin]\nlisten = "127.0.0.1"\n').admin.port).toBe(DEFAULT_PORT + 1);
  });

  it('refuses any listen address but 127.0.0.1, and bad ports, naming the key', () => {
    for (const listen of ['0.0.0.0', '::', '::1', '192.168.1.2', 'localhost']) {
      expect(() => parseConfig(`[admin]\nlisten = "${listen}"\n`)).toThrow(
        expect.objectContaining({
          code: 'CONFIG_INVALID',
          message: expect.stringMatching(
            /\[admin\] listen: the admin API listens on 127\.0\.0\.1 only/,
          ),
        }),
      );
    }
    const cases: [string, RegExp][] = [
      ['[admin]\nport = 0\n', /\[admin\] port: expected an integer 1–65535/],
      ['[admin]\nport = "x"\n', /\[admin\] port: expected an integer/],
      ['[admin]\nenabled = "yes"\n', /\[admin\] enabled: expected true or false/],
      ['[admin]\ntoken = "abc"\n', /\[admin\] unknown key "token"/],
      ['[storage]\nport = 65535\n', /\[admin\] port: required when \[storage\] port is 65535/],
      ['[storage]\nport = 4000\n[admin]\nport = 4000\n', /\[admin\] port: must differ/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseConfig(text), text).toThrow(message);
    }
  });

  it('renders the [admin] section: defaults commented, values set', () => {
    const text = renderConfig();
    expect(text).toContain('[admin]');
    expect(text).toMatch(/^# enabled = true$/m);
    expect(text).toMatch(/^# port = 3458 {3}# default: the storage port \+ 1$/m);
    expect(text).toMatch(/^# listen = "127\.0\.0\.1"/m);
    expect(parseConfig(text)).toEqual(parseConfig(''));
    const set = renderConfig({ port: 5000, adminPort: 6000, adminEnabled: false });
    expect(parseConfig(set).admin).toEqual({ enabled: false, port: 6000 });
    expect(renderConfig({ port: 5000 })).toMatch(/^# port = 5001 /m);
  });
});

describe('the admin token and listener of a node', () => {
  it('init writes private/admin-token (0600); a node made before it gets one on first start', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const path = join(dir, 'private', 'admin-token');
    const first = (await readFile(path, 'utf8')).trim();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    // The same token across restarts.
    let running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    expect((await readFile(running.adminTokenPath, 'utf8')).trim()).toBe(first);
    await running.close();

    // An older node directory: no token file until the first start creates one.
    await rm(path);
    running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    try {
      const created = (await readFile(path, 'utf8')).trim();
      expect(created).toMatch(/^[0-9a-f]{64}$/);
      expect(created).not.toBe(first);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const res = await fetch(`${running.adminUrl}/admin/v1/health`, {
        headers: { Authorization: `Bearer ${created}` },
      });
      expect(res.status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('a damaged token file stops start-up naming it', async () => {
    const dir = await tempDir();
    await initNode(dir);
    await writeFile(join(dir, 'private', 'admin-token'), 'short\n');
    await expect(startNode(dir, { port: 0 })).rejects.toMatchObject({
      code: 'NODE_DAMAGED',
      message: expect.stringContaining('private/admin-token'),
    });
  });

  it('serves on the configured port; enabled = false serves none', async () => {
    const [storagePort, adminPort] = [await freePort(), await freePort()];
    const dir = await tempDir();
    await initNode(dir, { port: storagePort, adminPort });
    const running = await startNode(dir, { sweepIntervalSeconds: 0 });
    try {
      expect(running.port).toBe(storagePort);
      expect(running.adminUrl).toBe(`http://127.0.0.1:${adminPort}`);
    } finally {
      await running.close();
    }

    const off = await tempDir();
    await initNode(off, { adminEnabled: false });
    const quiet = await startNode(off, { port: 0, sweepIntervalSeconds: 0 });
    expect(quiet.adminUrl).toBeUndefined();
    await quiet.close();
  });

  it('an admin port in use stops start-up naming [admin] port, leaving nothing listening', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const dir = await tempDir();
      const storagePort = await freePort();
      await initNode(dir, { port: storagePort, adminPort: taken });
      await expect(startNode(dir, { sweepIntervalSeconds: 0 })).rejects.toMatchObject({
        code: 'LISTEN_FAILED',
        message: expect.stringContaining(`127.0.0.1:${taken} ([admin] port)`),
      });
      // The storage listener was closed too: the node starts once the port is free.
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      const running = await startNode(dir, { sweepIntervalSeconds: 0 });
      expect(running.port).toBe(storagePort);
      await running.close();
    } finally {
      blocker.close();
    }
  });
});
