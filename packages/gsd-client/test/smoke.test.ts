import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  memorySlotServer,
  publishDocument,
  readCapOf,
  readDocument,
} from '../src/index.js';

describe('smoke', () => {
  it('publishes and reads a directory', async () => {
    const servers = [memorySlotServer(), memorySlotServer(), memorySlotServer()];
    const w = createWriteCap();
    const r1 = await publishDocument(servers, w, 'directory', { announcements: [] });
    expect(r1.seqnum).toBe(1);
    expect(r1.written).toHaveLength(3);
    const a = readCapOf(createWriteCap());
    const r2 = await publishDocument(servers, w, 'directory', {
      announcements: [{ readcap: a, petname: 'one' }],
    });
    expect(r2.seqnum).toBe(2);
    const read = await readDocument(servers, readCapOf(w), 'directory');
    expect(read.problems).toEqual([]);
    expect(read.document?.body.announcements[0]?.petname).toBe('one');
  });
});
