import type { Generated } from 'kysely';

// Row types of the tables, as kysely sees them. Times are Unix seconds; sizes are bytes.

export interface AccountsTable {
  id: Generated<number>;
  public_key: string | null;
  nickname: string;
  /** The nickname folded (NFKC, lower case) in JavaScript, so search matches alike on both dialects. */
  nickname_key: string;
  status: string;
  hard_quota_bytes: number | null;
  soft_quota_bytes: number | null;
  created_at: number;
  /** When the account last made a request (moved forward only, at most once a minute). */
  last_seen_at: number | null;
}

export interface AccountAttributesTable {
  account_id: number;
  name: string;
  value: string;
}

export interface AccountUsageTable {
  account_id: number;
  shares: number;
  bytes: number;
}

export interface ServerUsageTable {
  id: number;
  shares: number;
  bytes: number;
}

export interface SharesTable {
  storage_index: string;
  shnum: number;
  prefix: string;
  sharetype: string;
  state: string;
  used_space: number;
  owner_account_id: number | null;
  created_at: number;
  updated_at: number;
  lease_expires_at: number | null;
  /** The server process holding a COMING share's upload in memory (null once stored). */
  upload_process: string | null;
}

export interface LeasesTable {
  storage_index: string;
  shnum: number;
  account_id: number;
  renewed_at: number;
  expires_at: number;
  /**
   * The share's used_space, copied into each of its leases and changed in the same statement as
   * the share's, so deleting a lease returns exactly the bytes that were counted for it (even
   * when an expiry races a mutable rewrite on PostgreSQL).
   */
  used_space: number;
  renew_secret_hash: string | null;
  cancel_secret_hash: string | null;
}

export interface EventsTable {
  id: Generated<number>;
  at: number;
  kind: string;
  account_id: number | null;
  actor: string | null;
  storage_index: string | null;
  shnum: number | null;
  data: string;
}

export interface UsageHistoryTable {
  account_id: number;
  at: number;
  shares: number;
  bytes: number;
}

export interface ServerUsageHistoryTable {
  at: number;
  shares: number;
  bytes: number;
}

export interface CrawlerStateTable {
  name: string;
  cycle: number;
  position: string | null;
  cycle_started_at: number | null;
  updated_at: number;
  counters: string;
}

export interface CrawlerHistoryTable {
  name: string;
  cycle: number;
  started_at: number;
  finished_at: number;
  counters: string;
}

export interface AccountRequestNoncesTable {
  nonce: string;
  seen_at: number;
}

export interface ServerProcessesTable {
  id: string;
  url: string | null;
  started_at: number;
  heartbeat_at: number;
}

/** Which process runs a crawler, until when: one crawler per database, elected by claim. */
export interface CrawlerClaimsTable {
  name: string;
  holder: string;
  /** When this holder took the claim (kept across its renewals). */
  claimed_at: number;
  renewed_at: number;
  expires_at: number;
}

/** Each time the database was restored or rebuilt (its leases since the backup unknown). */
export interface RestoresTable {
  id: Generated<number>;
  at: number;
  reason: string;
  /** The backup restored; null: the database started empty. */
  backup: string | null;
  backup_created_at: number | null;
  actor: string | null;
}

/** An account's traffic in one hour: counters that every server process adds to. */
export interface TrafficTable {
  account_id: number;
  /** Start of the hour, Unix seconds. */
  hour: number;
  uploads: number;
  reads: number;
  bytes_in: number;
  bytes_out: number;
}

/** An invitation: its code's secret only as a hash, its quota, and how often it was used. */
export interface InvitationsTable {
  id: Generated<number>;
  /** SHA-256 of the code's secret, 64 lowercase hex digits; never the secret. */
  secret_hash: string;
  nickname: string | null;
  hard_quota_bytes: number | null;
  soft_quota_bytes: number | null;
  max_uses: number;
  uses: Generated<number>;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  /** Who issued it (the actor of its `invitation-created` event). */
  created_by: string;
  last_used_at: number | null;
}

/** A grid invitation honoured here, and the one key it admits here. */
export interface GridInvitationBindingsTable {
  /** The invitation's 16-byte id, 32 lowercase hex digits. */
  invitation_id: string;
  /** The Ed25519 public key that first used it here, 64 lowercase hex digits. */
  public_key: string;
  bound_at: number;
}

export interface Schema {
  accounts: AccountsTable;
  account_attributes: AccountAttributesTable;
  account_usage: AccountUsageTable;
  server_usage: ServerUsageTable;
  shares: SharesTable;
  leases: LeasesTable;
  events: EventsTable;
  usage_history: UsageHistoryTable;
  server_usage_history: ServerUsageHistoryTable;
  crawler_state: CrawlerStateTable;
  crawler_history: CrawlerHistoryTable;
  account_request_nonces: AccountRequestNoncesTable;
  server_processes: ServerProcessesTable;
  crawler_claims: CrawlerClaimsTable;
  restores: RestoresTable;
  traffic: TrafficTable;
  invitations: InvitationsTable;
  grid_invitation_bindings: GridInvitationBindingsTable;
}
