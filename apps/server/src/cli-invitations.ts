import { invitationView } from '@ostrom/http';
import { MAX_INVITATION_USES } from '@ostrom/leasedb';
import { formatInvitation } from '@ostrom/protocol';
import type { Command } from 'commander';
import {
  CLI_ACTOR,
  type CliContext,
  durationArg,
  intArg,
  nicknameArg,
  quotaArg,
  quotaValue,
  withOperator,
} from './cli-common.js';
import { isoTime, quotaText, table } from './cli-format.js';
import { nodeNurl } from './server.js';

// `ostrom accounts invite | invitations | revoke-invitation`: the operator's invitations. A code
// is printed once, when it is made: the database keeps only its secret's hash, and no output
// shows even that (`invitationView`, as the admin API and the panel).

export function registerInvitationCommands(accounts: Command, ctx: CliContext): void {
  const { env, command, nodeDir, print, now } = ctx;

  command(
    accounts,
    'invite',
    'issue an invitation code: its first use makes an active account, even with manual approval',
  )
    .option(
      '--nickname <NAME>',
      "the account's nickname (default: the one it asks for)",
      nicknameArg,
    )
    .option('--hard <SIZE>', 'its hard quota (default none)', quotaArg)
    .option('--soft <SIZE>', 'its soft quota (default none)', quotaArg)
    .option('--expires <DURATION>', 'how long the code may be used (default 7d)', durationArg)
    .option(
      '--uses <N>',
      `how many accounts it may make (default 1, at most ${MAX_INVITATION_USES})`,
      intArg(1, MAX_INVITATION_USES),
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        o: {
          nickname?: string;
          hard?: number | 'none';
          soft?: number | 'none';
          expires?: number;
          uses?: number;
        },
        cmd: Command,
      ) => {
        await withOperator(nodeDir(cmd), env, async ({ node, accountant }) => {
          const { invitation, secret } = await accountant.createInvitation({
            nickname: o.nickname ?? null,
            hardQuotaBytes: quotaValue(o.hard) ?? null,
            softQuotaBytes: quotaValue(o.soft) ?? null,
            expiresInSeconds: o.expires ?? 7 * 86_400,
            maxUses: o.uses ?? 1,
            actor: CLI_ACTOR,
          });
          const code = formatInvitation({ secret, nurl: nodeNurl(node, accountant, 0) });
          print(cmd, { ...invitationView(invitation, now()), code }, () => {
            const who = invitation.nickname === null ? '' : ` for ${invitation.nickname}`;
            return `invitation ${invitation.id}${who}: ${invitation.maxUses} use(s), until ${isoTime(invitation.expiresAt)}; shown this once:\n${code}\n`;
          });
        });
      },
    );

  command(accounts, 'invitations', 'the invitations issued: uses, expiry, and whether revoked')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const views = (await accountant.listInvitations()).map((row) => invitationView(row, now()));
        print(cmd, views, () =>
          views.length === 0
            ? 'no invitation issued\n'
            : table(
                ['id', 'nickname', 'state', 'uses', 'expires', 'hard quota', 'issued by'],
                views.map((v) => [
                  v.id,
                  v.nickname ?? '-',
                  v.state,
                  `${v.uses}/${v.maxUses}`,
                  isoTime(v.expiresAt),
                  quotaText(v.hardQuotaBytes),
                  v.createdBy,
                ]),
              ),
        );
      });
    });

  command(accounts, 'revoke-invitation', 'revoke an invitation: its code makes no more accounts')
    .argument('<ID>', 'invitation id', intArg(1, Number.MAX_SAFE_INTEGER))
    .option('--json', 'machine-readable output')
    .action(async (id: number, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const row = await accountant.revokeInvitation(id, { actor: CLI_ACTOR });
        print(
          cmd,
          invitationView(row, now()),
          () => `invitation ${row.id} revoked (${row.uses} use(s) made)\n`,
        );
      });
    });
}
