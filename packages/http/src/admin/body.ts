import type { IncomingMessage } from 'node:http';
import { AdminHttpError } from './errors.js';

/**
 * The whole body of a request to the admin API or a panel beside it, refused with
 * PAYLOAD_TOO_LARGE as soon as it is known to pass `maxBytes`: on its Content-Length before a
 * byte is read, or while a chunked body streams. `what` names it in the refusal ("this body may
 * be at most …", "this form …").
 */
export async function readBoundedBody(
  req: IncomingMessage,
  maxBytes: number,
  what = 'body',
): Promise<Buffer> {
  const tooLarge = () =>
    new AdminHttpError('PAYLOAD_TOO_LARGE', `this ${what} may be at most ${maxBytes} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
