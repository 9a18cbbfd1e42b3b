import { readFile } from 'node:fs/promises';
import {
  type Accountant,
  type AccountListEntry,
  AccountListError,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
  usageRow,
} from '@ostrom/accountant';
import {
  ACCOUNT_STATUSES,
  type AccountRow,
  type AccountStatus,
  type AccountWithUsage,
} from '@ostrom/leasedb';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  accountIdArg,
  CLI_ACTOR,
  type CliContext,
  intArg,
  quotaArg,
  quotaValue,
  requireAccount,
  withOperator,
} from './cli-common.js';
import { isoTime, keyValues, quotaText, table, USAGE_HEAD, usageCells } from './cli-format.js';
import { registerInvitationCommands } from './cli-invitations.js';
import { UsageError } from './errors.js';
import { nodeNurl } from './server.js';
import { formatSize } from './size.js';

// `ostrom accounts ...`: the operator's commands for the node's accounts, on its database (the
// node running or not).

// ---------------------------------------------------------------------------- argument parsers

/** A public key as 64 hex digits (the database's form) or 52 base32 characters. */
function publicKeyArg(value: string): string {
  const key = parsePublicKey(value);
  if (key === undefined) {
    throw new InvalidArgumentError(`expected an Ed25519 public key: ${PUBLIC_KEY_FORMS}`);
  }
  return key;
}

// ---------------------------------------------------------------------------- output helpers

function accountJson(account: AccountRow | AccountWithUsage) {
  return account;
}

// ---------------------------------------------------------------------------- the commands

/** `ostrom accounts ...`: list, show, status changes, rename, quotas, add, import. */
export function registerAccountsCommands(program: Command, ctx: CliContext): void {
  const { io, env, command, nodeDir, print } = ctx;
  const accounts = command(
    program,
    'accounts',
    "manage the node's accounts (works whether it runs or not)",
  );
  const actor = CLI_ACTOR;

  command(accounts, 'list', 'list accounts with their usage')
    .addOption(
      new Option('--status <STATUS>', 'only accounts with this status').choices(ACCOUNT_STATUSES),
    )
    .option('--search <TEXT>', 'only accounts whose nickname contains this')
    .option('--limit <N>', 'at most this many (default 1000)', intArg(1, 100_000))
    .option('--json', 'machine-readable output')
    .action(
      async (o: { status?: AccountStatus; search?: string; limit?: number }, cmd: Command) => {
        await withOperator(nodeDir(cmd), env, async ({ db }) => {
          const page = await db.listAccounts({
            ...(o.status ? { status: o.status } : {}),
            ...(o.search ? { search: o.search } : {}),
            limit: o.limit ?? 1000,
          });
          print(
            cmd,
            page.accounts.map(accountJson),
            () =>
              table(
                [...USAGE_HEAD, 'soft quota', 'public key'],
                page.accounts.map((a) => [
                  ...usageCells(usageRow(a)),
                  quotaText(a.softQuotaBytes),
                  a.publicKey ? `${a.publicKey.slice(0, 16)}…` : '-',
                ]),
              ) +
              (page.total > page.accounts.length
                ? `(${page.accounts.length} of ${page.total})\n`
                : ''),
          );
        });
      },
    );

  command(accounts, 'show', 'one account: status, quota, usage, NURL')
    .argument('<ID>', 'account id', accountIdArg)
    .option('--json', 'machine-readable output')
    .action(async (id: number, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ node, db, accountant }) => {
        const account = await requireAccount(db, id);
        const usage = (await db.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
        const attributes = await db.getAccountAttributes(id);
        const nurl = account.status === 'deleted' ? null : nodeNurl(node, accountant, id);
        // Where it came from, and whom it brought (the chain of invitations).
        const invitations = await accountant.invitationChain(id);
        const { invitedBy } = invitations;
        const from =
          invitedBy === null
            ? []
            : [
                [
                  'invited by',
                  invitedBy.kind === 'operator'
                    ? `${invitedBy.issuedBy ?? 'someone'} (invitation ${invitedBy.invitationId})`
                    : invitedBy.kind === 'account'
                      ? `${invitedBy.nickname ?? 'a deleted account'} (account ${invitedBy.accountId})`
                      : `the grid (invitation ${invitedBy.invitationId.slice(0, 8)}…)`,
                ] as [string, string],
              ];
        const brought = [
          ...(invitations.invitationBudget === null
            ? []
            : [['invitation budget', String(invitations.invitationBudget)] as [string, string]]),
          ...(invitations.invited.length === 0
            ? []
            : [['invited', invitations.invited.join(', ')] as [string, string]]),
        ];
        print(cmd, { ...account, usage, attributes, ...invitations, nurl }, () =>
          keyValues([
            ['id', account.id],
            ['nickname', account.nickname],
            ['status', account.status],
            ['public key', account.publicKey ?? '-'],
            ['created', isoTime(account.createdAt)],
            ['shares', usage.shares],
            ['used', formatSize(usage.bytes)],
            ['hard quota', quotaText(account.hardQuotaBytes)],
            ['soft quota', quotaText(account.softQuotaBytes)],
            ...Object.entries(attributes).map(([k, v]): [string, string] => [k, v]),
            ...from,
            ...brought,
            ['NURL', nurl ?? '-'],
          ]),
        );
      });
    });

  const statusCommand = (
    name: string,
    description: string,
    change: (a: Accountant, id: number, reason: string | undefined) => Promise<AccountRow>,
    { withReason = false } = {},
  ) => {
    const cmd = command(accounts, name, description).argument('<ID>', 'account id', accountIdArg);
    if (withReason)
      cmd.option('--reason <TEXT>', 'why, for the activity log (at most 200 characters)');
    return cmd
      .option('--json', 'machine-readable output')
      .action(async (id: number, o: { reason?: string }, cmd: Command) => {
        await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
          const account = await change(accountant, id, o.reason);
          print(
            cmd,
            account,
            () => `account ${account.id} (${account.nickname}): ${account.status}\n`,
          );
        });
      });
  };
  const why = (reason: string | undefined) => ({
    actor,
    ...(reason === undefined ? {} : { reason }),
  });
  statusCommand('approve', 'approve a pending account', (a, id) => a.approveAccount(id, { actor }));
  statusCommand(
    'refuse',
    "refuse a pending account's request: it becomes disabled, and its key is answered refused",
    (a, id, reason) => a.refuseAccount(id, why(reason)),
    { withReason: true },
  );
  command(accounts, 'freeze', 'freeze an account: it may read, not write')
    .argument('<ID>', 'account id', accountIdArg)
    .option('--reason <TEXT>', 'why, for the activity log (at most 200 characters)')
    .option(
      '--and-invitees',
      'also freeze every account it invited with its own invitations, and theirs, each logged',
    )
    .option('--json', 'machine-readable output')
    .action(async (id: number, o: { reason?: string; andInvitees?: boolean }, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const frozen = o.andInvitees
          ? await accountant.freezeWithInvitees(id, why(o.reason))
          : [await accountant.setAccountStatus(id, 'frozen', why(o.reason))];
        print(cmd, o.andInvitees ? frozen : frozen[0], () =>
          frozen.map((a) => `account ${a.id} (${a.nickname}): ${a.status}\n`).join(''),
        );
      });
    });

  command(
    accounts,
    'set-invitation-budget',
    'let an account invite N people here with invitations it signs itself (0: none)',
  )
    .argument('<ID>', 'account id', accountIdArg)
    .argument('<N>', 'how many accounts it may invite, in all', intArg(0, 1_000_000))
    .option('--json', 'machine-readable output')
    .action(async (id: number, budget: number, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const account = await accountant.setInvitationBudget(id, budget, { actor });
        print(
          cmd,
          { ...account, invitationBudget: budget },
          () => `account ${account.id} (${account.nickname}) may invite ${budget} account(s)\n`,
        );
      });
    });
  statusCommand('thaw', 'return a frozen or disabled account to normal', (a, id) =>
    a.setAccountStatus(id, 'normal', { actor }),
  );
  statusCommand(
    'disable',
    'disable an account: no reads, no writes',
    (a, id, reason) => a.setAccountStatus(id, 'disabled', why(reason)),
    { withReason: true },
  );
  statusCommand('delete', 'delete an account: its shares go after the grace period', (a, id) =>
    a.setAccountStatus(id, 'deleted', { actor }),
  );

  command(accounts, 'rename', 'give an account another nickname')
    .argument('<ID>', 'account id', accountIdArg)
    .argument('<NICKNAME>', 'its new nickname')
    .option('--json', 'machine-readable output')
    .action(async (id: number, nickname: string, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const account = await accountant.renameAccount(id, nickname, { actor });
        print(cmd, account, () => `account ${account.id} is now ${account.nickname}\n`);
      });
    });

  command(accounts, 'set-quota', 'set an account\'s quotas ("none" removes one)')
    .argument('<ID>', 'account id', accountIdArg)
    .option('--hard <SIZE>', 'allocations past this are refused', quotaArg)
    .option('--soft <SIZE>', 'crossing 80% and 100% of this warns', quotaArg)
    .option('--json', 'machine-readable output')
    .action(
      async (
        id: number,
        given: { hard?: number | 'none'; soft?: number | 'none' },
        cmd: Command,
      ) => {
        if (given.hard === undefined && given.soft === undefined)
          throw new UsageError('give --hard, --soft or both');
        const o = { hard: quotaValue(given.hard), soft: quotaValue(given.soft) };
        await withOperator(nodeDir(cmd), env, async ({ db, accountant }) => {
          const current = await requireAccount(db, id);
          const hardQuotaBytes = o.hard === undefined ? current.hardQuotaBytes : o.hard;
          const softQuotaBytes = o.soft === undefined ? current.softQuotaBytes : o.soft;
          if (
            hardQuotaBytes !== null &&
            softQuotaBytes !== null &&
            softQuotaBytes > hardQuotaBytes
          ) {
            throw new UsageError('the soft quota must not exceed the hard quota');
          }
          const account = await accountant.setAccountQuota(
            id,
            { hardQuotaBytes, softQuotaBytes },
            { actor },
          );
          print(
            cmd,
            account,
            () =>
              `account ${account.id} (${account.nickname}): hard quota ${quotaText(account.hardQuotaBytes)}, soft quota ${quotaText(account.softQuotaBytes)}\n`,
          );
          // Allowed (an operator may stop an account's growth this way), but never silently.
          const usage = (await db.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
          if (hardQuotaBytes !== null && usage.bytes > hardQuotaBytes) {
            io.stderr(
              `ostrom: warning: account ${id} holds ${formatSize(usage.bytes)}, more than its hard quota of ${formatSize(hardQuotaBytes)}: it can store nothing more until it holds less (nothing it holds is deleted)\n`,
            );
          }
        });
      },
    );

  command(accounts, 'add', 'pre-approve a public key: its account is active at once')
    .requiredOption('--pubkey <KEY>', 'Ed25519 public key (64 hex digits)', publicKeyArg)
    .requiredOption('--nickname <NAME>', 'a name for the account')
    .option('--hard <SIZE>', 'hard quota (default the config default)', quotaArg)
    .option('--soft <SIZE>', 'soft quota (default the config default)', quotaArg)
    .option('--json', 'machine-readable output')
    .action(
      async (
        given: { pubkey: string; nickname: string; hard?: number | 'none'; soft?: number | 'none' },
        cmd: Command,
      ) => {
        const o = { ...given, hard: quotaValue(given.hard), soft: quotaValue(given.soft) };
        await withOperator(nodeDir(cmd), env, async ({ node, accountant }) => {
          const account = await accountant.addAccount(
            {
              publicKey: o.pubkey,
              nickname: o.nickname,
              ...(o.hard === undefined ? {} : { hardQuotaBytes: o.hard }),
              ...(o.soft === undefined ? {} : { softQuotaBytes: o.soft }),
            },
            { actor },
          );
          const nurl = nodeNurl(node, accountant, account.id);
          print(
            cmd,
            { ...account, nurl },
            () => `account ${account.id} (${account.nickname}): ${account.status}\nNURL: ${nurl}\n`,
          );
        });
      },
    );

  command(accounts, 'import', 'pre-approve keys from a file: "pubkey nickname" a line, # comments')
    .argument('<FILE>', "the list (as Tahoe's planned storage-accounts.txt)")
    .option('--json', 'machine-readable output')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${file} (${error.code})`);
      });
      let entries: AccountListEntry[];
      try {
        entries = parseAccountList(text, file);
      } catch (error) {
        throw error instanceof AccountListError ? new UsageError(error.message) : error;
      }
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const { added, existing } = await accountant.importAccounts(entries, { actor });
        print(cmd, { added, existing }, () =>
          [
            ...added.map((a) => `added account ${a.id} (${a.nickname})`),
            ...existing.map((a) => `exists: account ${a.id} (${a.nickname}, ${a.status})`),
            `${added.length} added, ${existing.length} already present`,
            '',
          ].join('\n'),
        );
      });
    });
  registerInvitationCommands(accounts, ctx);
}
