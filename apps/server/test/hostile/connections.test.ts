import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { expectBounded, startHostileNode, underAttack } from './hostile-node.js';

// Attack: one client opens connections and holds them without a request (or with a TLS
// handshake it never finishes): each costs the node a descriptor and memory, and without a
// bound enough of them leave no descriptor for anyone else (EMFILE).
// Expected: the node holds at most `[storage] max_connections_per_address` from one address and
// closes the rest as they are accepted; another client's connections (another address) are
// served meanwhile; one warning is logged; once the attacker lets go, its address connects again.

const PER_ADDRESS = 40;
const ATTACKER = '127.0.0.2'; // Linux routes all of 127/8 to the loopback interface
const ATTEMPTS = 300;

/** A TLS connection from `localAddress`: whether its handshake finished, and the socket. */
function connect(port: number, localAddress: string) {
  return new Promise<{ established: boolean; socket: tls.TLSSocket }>((resolve) => {
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
    const socket = tls.connect({ socket: tcp, rejectUnauthorized: false });
    socket.once('secureConnect', () => resolve({ established: true, socket }));
    socket.once('error', () => resolve({ established: false, socket }));
    socket.once('close', () => resolve({ established: false, socket }));
  });
}

describe('hostile: connections held by one address', () => {
  it(`${ATTEMPTS} idle connections from one address: ${PER_ADDRESS} are held, the rest closed at once, within the suite bounds`, async () => {
    const node = await startHostileNode(
      {},
      { max_connections_per_address: String(PER_ADDRESS), max_connections: '1000' },
    );
    const { result, figures } = await underAttack(node, async () => {
      // In waves of 50: a burst of 300 handshakes at once would measure this process's TLS.
      const attempts: Awaited<ReturnType<typeof connect>>[] = [];
      while (attempts.length < ATTEMPTS) {
        attempts.push(
          ...(await Promise.all(Array.from({ length: 50 }, () => connect(node.port, ATTACKER)))),
        );
      }
      // The held ones stay held: the node's figures are taken while they are open.
      const held = attempts.filter((a) => a.established && !a.socket.destroyed);
      const heldDescriptors = node.openDescriptors();
      return { attempts, held: held.length, heldDescriptors };
    });
    try {
      expect(result.held).toBe(PER_ADDRESS);
      expectBounded(figures, PER_ADDRESS);
      // The bystander (127.0.0.1) was served throughout: another address has its own bound.
      expect(figures.versionMs.length).toBeGreaterThan(0);
      const warnings = node
        .logged()
        .filter((entry) => entry.msg?.startsWith('connections refused'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ client: ATTACKER, bound: 'maxConnectionsPerAddress' });
    } finally {
      for (const { socket } of result.attempts) socket.destroy();
    }
    // Let go, the address is served again (the count follows the closes).
    let again = await connect(node.port, ATTACKER);
    for (let i = 0; !again.established && i < 50; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      again = await connect(node.port, ATTACKER);
    }
    expect(again.established).toBe(true);
    again.socket.destroy();
  }, 60_000);
});
