import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  createStorageClient,
  type Invitation,
  isGridInvitationCode,
  isMemberInvitationCode,
  ProtocolError,
  parseGridInvitationCode,
  parseInvitation,
  parseMemberInvitationCode,
  parseNurl,
  type SignedGridInvitation,
  type SignedMemberInvitation,
  signAccountRequest,
} from '@ostrom/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import { defaultKeyFile, readOrCreateAccountKey } from './account-key.js';
import { type CliContext, EXIT } from './cli-common.js';
import { isoTime, keyValues, quotaText } from './cli-format.js';
import { UsageError } from './errors.js';
import { formatSize } from './size.js';

/** An invitation code: one server's (`oi1-…`), or a grid's (`ogi1-…`, good on every server). */
export type InviteCode =
  | { readonly kind: 'server'; readonly invitation: Invitation }
  | { readonly kind: 'grid'; readonly signed: SignedGridInvitation }
  | { readonly kind: 'member'; readonly signed: SignedMemberInvitation };

/** An invitation code argument: one clear line (exit 2) if it is not one. */
export function inviteArg(value: string): InviteCode {
  try {
    if (isGridInvitationCode(value))
      return { kind: 'grid', signed: parseGridInvitationCode(value) };
    if (isMemberInvitationCode(value)) {
      return { kind: 'member', signed: parseMemberInvitationCode(value) };
    }
    return { kind: 'server', invitation: parseInvitation(value) };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new InvalidArgumentError(error.message);
  }
}

/** What an account request carries for an invitation code. */
export function inviteBody(code: InviteCode | undefined): {
  invitation?: Uint8Array;
  gridInvitation?: Uint8Array;
  memberInvitation?: Uint8Array;
} {
  switch (code?.kind) {
    case undefined:
      return {};
    case 'server':
      return { invitation: code.invitation.secret };
    case 'grid':
      return { gridInvitation: code.signed.bytes };
    case 'member':
      return { memberInvitation: code.signed.bytes };
  }
}

// `ostrom account ...`: the client side, run on a client's machine rather than a node: ask a
// server for an account with a key of one's own, and read that account's usage.

// ---------------------------------------------------------------------------- the commands

/** `ostrom account request|usage`. */
export function registerAccountCommands(program: Command, ctx: CliContext): void {
  const { io, env, now, command, json, print, result } = ctx;
  const account = command(
    program,
    'account',
    'client side: obtain and inspect your account on a server',
  );

  command(account, 'request', 'ask a server for an account; prints its NURL')
    .argument('[NURL]', "the server's NURL (the anonymous one; with --invite, the code's)")
    .option(
      '--invite <CODE>',
      "an invitation code from the server's operator: the account is active at once",
      inviteArg,
    )
    .option(
      '--key <FILE>',
      'your Ed25519 key, created if missing (default ~/.config/ostrom/account.key)',
    )
    .option('--nickname <NAME>', 'how the operator sees you (default this host name)')
    .option('--wait', 'while pending, wait and retry until approved or refused')
    .option('--json', 'machine-readable output')
    .action(
      async (
        given: string | undefined,
        o: { key?: string; nickname?: string; wait?: boolean; invite?: InviteCode },
        cmd: Command,
      ) => {
        const server = o.invite?.kind === 'server' ? o.invite.invitation : undefined;
        const nurl = given ?? server?.nurl;
        if (nurl === undefined) {
          throw new UsageError(
            o.invite?.kind === 'grid' || o.invite?.kind === 'member'
              ? "this invitation names no server: give the server's NURL too"
              : "give the server's NURL, or --invite CODE",
          );
        }
        if (server && parseNurl(server.nurl).spkiHash !== parseNurl(nurl).spkiHash) {
          throw new UsageError('the invitation code is for another server than NURL (another key)');
        }
        const keyFile = resolve(o.key ?? defaultKeyFile(env));
        const key = await readOrCreateAccountKey(keyFile);
        if (key.created && !json(cmd)) io.stderr(`created the account key ${keyFile}\n`);
        const nickname = (o.nickname ?? hostname()).slice(0, 64);
        const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
        const client = createStorageClient({ nurl });
        try {
          for (;;) {
            const signed = signAccountRequest(
              {
                // The server's id is its TLS key's pin, from the NURL (packages/protocol README).
                serverId: parseNurl(nurl).spkiHash,
                publicKey: key.publicKey,
                nickname,
                timestamp: now(),
                nonce: crypto.getRandomValues(new Uint8Array(16)),
              },
              key.privateKey,
            );
            const answer = await client.accounting.requestAccount(signed, inviteBody(o.invite));
            const publicKey = Buffer.from(key.publicKey).toString('hex');
            if (answer.status === 'active') {
              print(cmd, { ...answer, publicKey }, () => `${answer.nurl}\n`);
              return;
            }
            if (answer.status === 'refused') {
              print(cmd, { ...answer, publicKey }, () => `refused: ${answer.reason}\n`);
              result.code = EXIT.failed;
              return;
            }
            const at = isoTime(now() + answer.retryAfterSeconds);
            if (!o.wait) {
              print(
                cmd,
                { ...answer, publicKey },
                () =>
                  `pending: retry after ${at} (${answer.retryAfterSeconds} s); your public key is ${publicKey}\n`,
              );
              result.code = EXIT.pending;
              return;
            }
            io.stderr(`pending: waiting ${answer.retryAfterSeconds} s, until ${at}\n`);
            await sleep(answer.retryAfterSeconds * 1000);
          }
        } finally {
          client.close();
        }
      },
    );

  command(account, 'usage', "your account's usage, status and quota")
    .argument('<NURL>', "your account's NURL")
    .option('--json', 'machine-readable output')
    .action(async (nurl: string, _o: unknown, cmd: Command) => {
      const client = createStorageClient({ nurl });
      try {
        const info = await client.accounting.getAccount();
        print(cmd, info, () =>
          keyValues([
            ['account', `${info.accountId} (${info.nickname})`],
            ['status', info.status],
            ['shares', info.shares],
            ['used', formatSize(info.bytes)],
            ['hard quota', quotaText(info.hardQuotaBytes)],
            ['soft quota', quotaText(info.softQuotaBytes)],
            ['lease duration', `${Math.round(info.leaseDurationSeconds / 86_400)} days`],
          ]),
        );
      } finally {
        client.close();
      }
    });
}
