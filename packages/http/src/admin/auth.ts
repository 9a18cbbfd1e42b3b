import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * A checker of one secret token. Both sides are hashed first so the comparison takes the same
 * time whatever the length or content of what was sent.
 */
export function tokenChecker(token: string): (sent: string) => boolean {
  if (typeof token !== 'string' || token === '') {
    throw new TypeError('the token must be a non-empty string');
  }
  const expected = digest(token);
  return (sent) => timingSafeEqual(digest(sent), expected);
}

/** A checker of `Authorization: Bearer <token>` for one token. */
export function bearerChecker(token: string): (req: IncomingMessage) => boolean {
  const matches = tokenChecker(token);
  return (req) => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    // A missing header is still compared, against nothing, so it costs what a wrong one does.
    return matches(match?.[1] ?? '') && match !== null;
  };
}
