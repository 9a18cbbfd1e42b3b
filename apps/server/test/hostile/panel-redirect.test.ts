import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBounded, type HostileNode, launchHostileNode, underAttack } from './hostile-node.js';

// Attack: a link to the panel's login whose `next` sends the operator, once logged in, to
// another site (a look-alike panel asking for the token again). The old check looked at the raw
// string, but a browser drops tabs and newlines from a Location and reads `\` as `/`:
// `next=/%09/evil.example/x` answered `Location: /\t/evil.example/x`, which is
// `http://evil.example/x`. Expected: the login succeeds and redirects (303, never a 500) to a
// Location that a browser resolves to the panel's own origin; the home page when `next` names
// anything else.

/**
 * `next` values as a link or form carries them (form-encoded): each, decoded and resolved as a
 * browser resolves a Location, leaves the panel, or once did through the raw-string check.
 */
const HOSTILE_NEXT = [
  '//evil.example',
  '//evil.example/x?y=1',
  '/%5Cevil.example', // `/\evil.example`
  '%5C%5Cevil.example', // `\\evil.example`
  '/%5C/evil.example',
  '/%09/evil.example/x', // a tab: `//evil.example/x` to a browser
  '%09//evil.example',
  '/%0A/evil.example', // a newline
  '/%0D%0A/evil.example',
  '/%0D%0ASet-Cookie:%20x=1', // a header of its own, were it copied raw
  '/%00/evil.example',
  '+//evil.example', // a leading space
  '/%2F/evil.example', // `///evil.example`
  '/.//evil.example/x', // dot segments that leave `//evil.example/x`
  '/..//evil.example',
  '/%252e%252e//evil.example', // `/%2e%2e//evil.example`: the same, percent-encoded dots
  'https://evil.example/',
  'https:evil.example',
  'HTTP://evil.example',
  'http://127.0.0.1.evil.example/',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,x',
  '%EF%BC%8F%EF%BC%8Fevil.example', // fullwidth solidi
];

interface Answer {
  readonly status: number;
  readonly location: string | null;
  readonly cookie: string | null;
  readonly text: string;
}

describe('hostile: the redirect after a panel login', () => {
  // One node (a process of its own) for the block; the panel is on its admin listener.
  let node: HostileNode;
  let base: string;
  let token: string;

  beforeAll(async () => {
    node = await launchHostileNode();
    base = node.adminUrl;
    token = node.adminToken;
  });
  afterAll(async () => {
    await node?.stop();
  });

  const answer = async (res: Response): Promise<Answer> => ({
    status: res.status,
    location: res.headers.get('location'),
    cookie: res.headers.get('set-cookie'),
    text: await res.text(),
  });

  /** Logs in with a form body whose `next` field is `encodedNext` exactly as given. */
  const login = async (encodedNext: string): Promise<Answer> =>
    answer(
      await fetch(`${base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `operator=carol&token=${encodeURIComponent(token)}&next=${encodedNext}`,
      }),
    );

  /** Where a browser that got `location` in answer to `from` goes: it must stay on the panel. */
  const expectOnPanel = (location: string | null, from: string, label: string) => {
    expect(location, label).not.toBeNull();
    const target = new URL(location!, from);
    expect(target.origin, label).toBe(new URL(base).origin);
    // What the header carries is what a browser resolves: nothing it would drop or reinterpret.
    expect(location, label).toMatch(/^\/(?![/\\])[\x21-\x7e]*$/);
  };

  it('a login whose next leads elsewhere redirects to a page of the panel (10 rounds, measured)', async () => {
    const { result, figures } = await underAttack(node, async () => {
      const answers: [string, Answer][] = [];
      for (let round = 0; round < 10; round++) {
        for (const next of HOSTILE_NEXT) answers.push([next, await login(next)]);
      }
      return answers;
    });
    expectBounded(figures);
    expect(result).toHaveLength(10 * HOSTILE_NEXT.length);
    for (const [next, res] of result) {
      expect(res.status, next).toBe(303);
      expect(res.cookie, next).toMatch(/^ostrom_panel=/);
      expectOnPanel(res.location, `${base}/login`, next);
    }
  });

  it('the login page carries only a next on the panel, whatever its link said', async () => {
    for (const next of HOSTILE_NEXT) {
      const page = await answer(await fetch(`${base}/login?next=${next}`, { redirect: 'manual' }));
      expect(page.status, next).toBe(200);
      const field = /<input type="hidden" name="next" value="([^"]*)">/.exec(page.text);
      expect(field, next).not.toBeNull();
      // The field is HTML-escaped; none of these values has a character that needs it after
      // normalisation, but undo the escapes a browser would.
      const value = field![1]!
        .replaceAll('&quot;', '"')
        .replaceAll('&#39;', "'")
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&amp;', '&');
      expectOnPanel(value, `${base}/login`, next);
      // Submitted as the browser submits it, it redirects to the same place.
      const res = await login(encodeURIComponent(value));
      expect(res.status, next).toBe(303);
      expect(res.location, next).toBe(value);
    }
  });

  it('a next on the panel is kept, with its query, and opens the page it names', async () => {
    const legit: [string, string][] = [
      ['/accounts?status=frozen', '/accounts?status=frozen'],
      [
        encodeURIComponent('/accounts?status=frozen&sort=bytes'),
        '/accounts?status=frozen&sort=bytes',
      ],
      ['/activity', '/activity'],
      ['/', '/'],
      ['', '/'],
      // A path with an encoded backslash is a path on the panel (it names no page: 404 there).
      ['/%255Cevil.example', '/%5Cevil.example'],
    ];
    for (const [next, expected] of legit) {
      const res = await login(next);
      expect(res.status, next).toBe(303);
      expect(res.location, next).toBe(expected);
    }
    const res = await login('/accounts?status=frozen');
    const cookie = res.cookie!.split(';')[0]!;
    const page = await fetch(new URL(res.location!, base), { headers: { cookie } });
    expect(page.status).toBe(200);
    await page.body?.cancel();
  });
});
