import { describe, expect, it } from 'vitest';
import { BOUNDS, expectBounded, startHostileNode, underAttack } from './hostile-node.js';

// The suite's own measuring stick: a node at rest is within the bounds, and the figures move when
// a client really does hold the node's resources, so a case that passes has been measured.

describe('the hostile-client harness', () => {
  it('a node at rest is within the bounds; 120 idle connections show in its descriptors', async () => {
    const node = await startHostileNode();
    const caller = node.client();
    const quiet = await underAttack(node, async () => {
      for (let i = 0; i < 50; i++) await caller.getVersion();
    });
    expectBounded(quiet.figures);

    const crowd = Array.from({ length: 120 }, () => node.client());
    const busy = await underAttack(node, async () => {
      await Promise.all(crowd.map((client) => client.getVersion()));
    });
    expect(busy.figures.peakDescriptors - busy.figures.baselineDescriptors).toBeGreaterThanOrEqual(
      BOUNDS.extraDescriptors,
    );
    expect(() => expectBounded(busy.figures)).toThrow();
  }, 60_000);
});
