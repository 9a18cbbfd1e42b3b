import type { Selectable } from 'kysely';
import type {
  AccountsTable,
  EventsTable,
  InvitationsTable,
  LeasesTable,
  SharesTable,
} from './schema.js';
import type {
  AccountRow,
  AccountStatus,
  ActivityEvent,
  EventKind,
  InvitationRow,
  Lease,
  Share,
  ShareState,
  ShareType,
} from './types.js';

// Row → record conversions, in one place so column names never leak out of the package.

export function toAccount(row: Selectable<AccountsTable>): AccountRow {
  return {
    id: row.id,
    publicKey: row.public_key,
    nickname: row.nickname,
    status: row.status as AccountStatus,
    hardQuotaBytes: row.hard_quota_bytes,
    softQuotaBytes: row.soft_quota_bytes,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
  };
}

export function toShare(row: Selectable<SharesTable>): Share {
  return {
    storageIndex: row.storage_index,
    shnum: row.shnum,
    prefix: row.prefix,
    sharetype: row.sharetype as ShareType,
    state: row.state as ShareState,
    usedBytes: row.used_space,
    ownerAccountId: row.owner_account_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    leaseExpiresAt: row.lease_expires_at,
    uploadProcess: row.upload_process,
  };
}

export function toLease(row: Selectable<LeasesTable>): Lease {
  return {
    storageIndex: row.storage_index,
    shnum: row.shnum,
    accountId: row.account_id,
    renewedAt: row.renewed_at,
    expiresAt: row.expires_at,
    renewSecretHash: row.renew_secret_hash,
    cancelSecretHash: row.cancel_secret_hash,
  };
}

export function toEvent(row: Selectable<EventsTable>): ActivityEvent {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind as EventKind,
    accountId: row.account_id,
    actor: row.actor,
    storageIndex: row.storage_index,
    shnum: row.shnum,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

export function toInvitation(row: Selectable<InvitationsTable>): InvitationRow {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    nickname: row.nickname,
    hardQuotaBytes: row.hard_quota_bytes,
    softQuotaBytes: row.soft_quota_bytes,
    maxUses: row.max_uses,
    uses: row.uses,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
  };
}
