import { createHmac } from 'node:crypto';
import { ANONYMOUS_ACCOUNT_ID, LeaseDbError } from '@ostrom/leasedb';
import { publicKeyFromPrivate } from '@ostrom/protocol';
import { changeAccount, createRecordedAccount } from './account-records.js';
import { type Core, guard, translate } from './core.js';
import { DIRECTORY_SLOTS_DEFAULTS } from './options.js';

// The slots of a grid service directory on a node in mode `required` (options.ts,
// `directorySlots`). Every node of a grid writes the directory and its own announcement to every
// other node through the anonymous NURL, so a node that refused all anonymous writes would hold
// none of them. A slot's format cannot tell a directory from anything else (anyone can write
// bytes that look like one), so the embedder names the storage indexes — derived from readcaps
// it trusts — and the writes to them are made as one dedicated account, whose quota bounds what
// they may take and which owns and leases what they store.

const KEY_LABEL = 'ostrom directory-slots account v1';

/**
 * The public key of the directory account: an Ed25519 key whose seed derives from the server
 * secret, so the account is found again by its key after a restart or a rebuild (its record
 * names the key), and nobody without the server secret can sign an account request with it.
 */
export function directoryAccountKey(serverSecret: Uint8Array): Uint8Array {
  const seed = createHmac('sha256', serverSecret).update(KEY_LABEL).digest();
  return publicKeyFromPrivate(new Uint8Array(seed));
}

/**
 * The directory account's id, created (through its record, as every account) on first need and
 * given the configured hard quota; undefined when this node admits no directory slots (no
 * option, or a mode other than `required`). Settled once per Accountant; a failure (the database
 * or the store away) is thrown and tried again at the next call.
 */
export function directoryAccountId(core: Core): Promise<number> | undefined {
  if (core.options.directorySlots === null || core.options.mode !== 'required') return undefined;
  if (!core.directoryAccount) {
    const settling = ensureDirectoryAccount(core);
    core.directoryAccount = settling;
    settling.catch(() => {
      if (core.directoryAccount === settling) core.directoryAccount = undefined;
    });
  }
  return core.directoryAccount;
}

/**
 * The account a write by `accountId` to `storageIndex` is made as, when it is not that account:
 * the directory account for an anonymous write to a slot the embedder admits, in mode
 * `required`. Undefined otherwise (the write goes through `accountId`, refused as ever when that
 * is the anonymous account in mode `required`). Callers only ask for mutable writes and lease
 * renewals: an immutable upload is never admitted.
 */
export async function directoryWriterFor(
  core: Core,
  accountId: number,
  storageIndex: string,
): Promise<number | undefined> {
  const slots = core.options.directorySlots;
  if (accountId !== ANONYMOUS_ACCOUNT_ID || slots === null || core.options.mode !== 'required') {
    return undefined;
  }
  if (!slots.admits(storageIndex)) return undefined;
  return await directoryAccountId(core);
}

async function ensureDirectoryAccount(core: Core): Promise<number> {
  const slots = core.options.directorySlots!;
  const publicKey = directoryAccountKey(core.options.serverSecret);
  let account = await guard(() => core.db.getAccountByPublicKey(publicKey));
  if (!account) {
    try {
      account = await createRecordedAccount(core, {
        publicKey,
        nickname: DIRECTORY_SLOTS_DEFAULTS.nickname,
        hardQuotaBytes: slots.hardQuotaBytes,
        softQuotaBytes: null,
        actor: 'server',
      });
    } catch (error) {
      // Another process sharing the database created it meanwhile.
      if (!(error instanceof LeaseDbError && error.code === 'ACCOUNT_EXISTS')) {
        throw translate(error);
      }
      account = await guard(() => core.db.getAccountByPublicKey(publicKey));
      if (!account) throw translate(error);
    }
  }
  const hard = slots.hardQuotaBytes;
  if (account.hardQuotaBytes !== hard) {
    const id = account.id;
    // A soft quota an operator set stays, unless the new hard quota is below it.
    const soft = account.softQuotaBytes;
    const keptSoft = soft !== null && hard !== null && soft > hard ? null : soft;
    await changeAccount(core, id, (tx) =>
      tx.setAccountQuota(
        id,
        { hardQuotaBytes: hard, softQuotaBytes: keptSoft },
        { actor: 'server' },
      ),
    );
  }
  return account.id;
}
