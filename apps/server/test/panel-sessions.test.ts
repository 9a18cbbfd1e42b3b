import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_SESSIONS,
  PanelSessions,
  readCookie,
  SESSION_COOKIE,
  SESSION_IDLE_SECONDS,
  SESSION_SECONDS,
} from '../src/panel/sessions.js';

// The panel's session store on an injected clock: when a login ends (an hour idle, or 12 hours
// after login however busy), and which session a flood of logins pushes out.

const T0 = 1_800_000_000;

function store() {
  let now = T0;
  const sessions = new PanelSessions(() => now);
  return {
    sessions,
    advance: (seconds: number) => (now += seconds),
    cookieOf: (id: string) => `theme=dark; ${SESSION_COOKIE}=${id}; other=1`,
  };
}

describe('panel sessions', () => {
  it('ends a session idle for the idle limit, to the second', () => {
    const { sessions, advance, cookieOf } = store();
    const s = sessions.create('carol');
    advance(SESSION_IDLE_SECONDS - 1);
    expect(sessions.find(cookieOf(s.id))?.operator).toBe('carol');
    // That request counted as use: the idle limit runs again from here.
    advance(SESSION_IDLE_SECONDS - 1);
    expect(sessions.find(cookieOf(s.id))).toBe(s);
    advance(SESSION_IDLE_SECONDS);
    expect(sessions.find(cookieOf(s.id))).toBeUndefined();
    // Ended for good: it is dropped, not revived by a later look.
    expect(sessions.size).toBe(0);
  });

  it('ends a busy session 12 hours after login', () => {
    const { sessions, advance, cookieOf } = store();
    const s = sessions.create('carol');
    const step = 600;
    for (let t = step; t < SESSION_SECONDS; t += step) {
      advance(step);
      expect(sessions.find(cookieOf(s.id)), `at ${t} s`).toBe(s);
    }
    advance(step); // exactly SESSION_SECONDS after login
    expect(sessions.find(cookieOf(s.id))).toBeUndefined();
  });

  it('knows no session without the cookie, or with an unknown or deleted id', () => {
    const { sessions, cookieOf } = store();
    const s = sessions.create('carol');
    expect(sessions.find(undefined)).toBeUndefined();
    expect(sessions.find('theme=dark')).toBeUndefined();
    expect(sessions.find(cookieOf('x'.repeat(43)))).toBeUndefined();
    // A cookie whose name merely ends in the session cookie's name is another cookie.
    expect(sessions.find(`x${SESSION_COOKIE}=${s.id}`)).toBeUndefined();
    sessions.delete(s.id);
    expect(sessions.find(cookieOf(s.id))).toBeUndefined();
  });

  it('pushes out the least recently used session when logins pass the limit', () => {
    const { sessions, advance, cookieOf } = store();
    const working = sessions.create('carol');
    const first = sessions.create('bob');
    for (let i = 0; i < MAX_SESSIONS - 2; i++) sessions.create('flood');
    expect(sessions.size).toBe(MAX_SESSIONS);
    advance(1);
    // carol, logged in first, works on; bob has not come back since logging in.
    expect(sessions.find(cookieOf(working.id))).toBe(working);
    sessions.create('flood');
    expect(sessions.size).toBe(MAX_SESSIONS);
    expect(sessions.find(cookieOf(first.id))).toBeUndefined();
    expect(sessions.find(cookieOf(working.id))).toBe(working);
  });

  it('gives every login its own id and form token', () => {
    const { sessions } = store();
    const a = sessions.create('carol');
    const b = sessions.create('carol');
    expect(new Set([a.id, b.id, a.csrf, b.csrf]).size).toBe(4);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('agrees with a model of hard end and idle end for any gaps between requests', () => {
    // Each element is the gap before the operator's next request. Mostly under an hour, so plans
    // often outlive the 12-hour end; now and then on the idle limit's boundary or past it.
    const IDLE = SESSION_IDLE_SECONDS;
    const gap = fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: IDLE - 1 }), weight: 30 },
      { arbitrary: fc.integer({ min: IDLE - 1, max: IDLE + 1 }), weight: 1 },
      { arbitrary: fc.integer({ min: 0, max: 2 * IDLE }), weight: 1 },
    );
    const plans = fc.array(gap, { minLength: 1, maxLength: 80, size: 'max' });
    const ends = { hard: 0, idle: 0 };
    fc.assert(
      fc.property(plans, (gaps) => {
        const { sessions, advance, cookieOf } = store();
        const s = sessions.create('carol');
        let lastUsed = T0;
        for (const seconds of gaps) {
          const now = advance(seconds);
          const hardEnd = now >= T0 + SESSION_SECONDS;
          const idleEnd = now >= lastUsed + IDLE;
          const found = sessions.find(cookieOf(s.id));
          if (hardEnd || idleEnd) {
            expect(found).toBeUndefined();
            // Once ended it stays ended: nothing of it is left to find.
            expect(sessions.size).toBe(0);
            if (hardEnd) ends.hard++;
            else ends.idle++;
            return;
          }
          expect(found).toBe(s);
          lastUsed = now;
        }
      }),
      { numRuns: 300 },
    );
    // The plans reach both ends, so the model is checked against each, not just one.
    expect(ends.hard).toBeGreaterThan(10);
    expect(ends.idle).toBeGreaterThan(10);
  });
});

describe('readCookie', () => {
  it.each([
    ['a=1; ostrom_panel=abc; b=2', 'abc'],
    ['ostrom_panel=abc', 'abc'],
    ['  ostrom_panel = abc ;b=2', 'abc'],
    ['ostrom_panel=', ''],
    ['b=ostrom_panel=abc', undefined],
    ['=abc; b=2', undefined],
    ['', undefined],
  ])('reads %j as %j', (header, value) => {
    expect(readCookie(header, 'ostrom_panel')).toBe(value);
  });
});
