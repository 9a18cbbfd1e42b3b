import { SHARE_TYPES, type ShareType } from '@ostrom/protocol/facts';

/** Share states: an upload in progress, a complete share, a share being deleted. */
export const SHARE_STATES = ['coming', 'stable', 'going'] as const;
export type ShareState = (typeof SHARE_STATES)[number];

// Tahoe's share types are defined once for every package; this package re-exports them.
export { SHARE_TYPES, type ShareType };

/**
 * Account statuses, Tahoe's `{write, read, save}` triple read first-match-wins: deleted
 * (save=false), disabled (read=false), frozen (write=false), else normal. `pending` is an
 * account requested by a client and waiting for an operator's approval: no read, no write.
 */
export const ACCOUNT_STATUSES = ['pending', 'normal', 'frozen', 'disabled', 'deleted'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** Account 0: every client that presents no account. */
export const ANONYMOUS_ACCOUNT_ID = 0;
/** Account 1: owner of the leases given to shares found on disk with no known owner. */
export const STARTER_ACCOUNT_ID = 1;

/**
 * An account as the lease database stores it. (The accountant's `Account` is the object that acts
 * for an account; `Accountant.account(id)` gives one.)
 */
export interface AccountRow {
  readonly id: number;
  /** Ed25519 public key, 64 hex digits; null for the anonymous and starter accounts. */
  readonly publicKey: string | null;
  readonly nickname: string;
  readonly status: AccountStatus;
  /** Allocations that would pass this are refused; null = no limit. */
  readonly hardQuotaBytes: number | null;
  /** Crossing 80% and 100% of this warns; null = no limit. */
  readonly softQuotaBytes: number | null;
  readonly createdAt: number;
  /** When the account last made a request to the storage or accounting API; null: never. */
  readonly lastSeenAt: number | null;
}

/** Shares leased by an account (each counted whole, whoever else leases it too) and their bytes. */
export interface Usage {
  readonly shares: number;
  readonly bytes: number;
}

export interface AccountWithUsage extends AccountRow {
  readonly usage: Usage;
}

export interface Share {
  readonly storageIndex: string;
  readonly shnum: number;
  readonly prefix: string;
  readonly sharetype: ShareType;
  readonly state: ShareState;
  /** Bytes the share takes: the allocated size while coming, its stored size afterwards. */
  readonly usedBytes: number;
  /** The account that uploaded it, when known. */
  readonly ownerAccountId: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The latest expiry any lease on it ever had (a grace period for deletion counts from here). */
  readonly leaseExpiresAt: number | null;
  /** While COMING: the id of the server process holding the upload, when it said. */
  readonly uploadProcess: string | null;
}

export interface Lease {
  readonly storageIndex: string;
  readonly shnum: number;
  readonly accountId: number;
  readonly renewedAt: number;
  readonly expiresAt: number;
  /** BLAKE2b-256 (hex) of the Tahoe lease secrets, as v2 share files keep them; never the secrets. */
  readonly renewSecretHash: string | null;
  readonly cancelSecretHash: string | null;
}

/** What a caller gives for a lease it creates outright (adoption of found shares). */
export interface LeaseInput {
  readonly accountId: number;
  readonly expiresAt: number;
  readonly renewedAt?: number;
  /**
   * Hashes as stored (BLAKE2b-256, hex), e.g. read from a Tahoe v2 share file; for a v1 file's
   * plain secrets use `hashLeaseSecret` first.
   */
  readonly renewSecretHash?: string | null;
  readonly cancelSecretHash?: string | null;
}

export const EVENT_KINDS = [
  'account-created',
  'account-status-changed',
  'account-quota-changed',
  'account-nickname-changed',
  /** An account given back from its record in the store after the database lost it or its changes. */
  'account-restored',
  'share-stored',
  'share-adopted',
  'share-deleted',
  'share-vanished',
  'share-corrupt',
  'leases-expired',
  'leases-dropped',
  'quota-warning',
  /** A write refused for the account's quota, its status or the mode (rate-limited per account). */
  'write-refused',
  'usage-corrected',
  'backup-made',
  'database-restored',
  /** An operator issued an invitation (its data never holds the secret's hash). */
  'invitation-created',
  'invitation-revoked',
  /** A code refused (unknown, revoked, expired or spent): appended by the caller that redeems. */
  'invitation-refused',
  'notice',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface ActivityEvent {
  readonly id: number;
  readonly at: number;
  readonly kind: EventKind;
  readonly accountId: number | null;
  /** Who did it: an operator's name, "crawler", "server"...; null when the account itself did. */
  readonly actor: string | null;
  readonly storageIndex: string | null;
  readonly shnum: number | null;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface UsageSample {
  /**
   * Start of the hour the sample belongs to; for the level in force at the start of a queried
   * range, that start.
   */
  readonly at: number;
  readonly shares: number;
  readonly bytes: number;
}

/**
 * What a node served in some hour: share uploads and reads answered, and the share data bytes
 * they took in and gave out (HTTP framing not counted). The accountant defines each counter.
 */
export interface TrafficCounts {
  readonly uploads: number;
  readonly reads: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** An hour's traffic, of one account or of the whole node. */
export interface TrafficSample extends TrafficCounts {
  /** Start of the hour (Unix seconds, a multiple of 3600). */
  readonly hour: number;
}

/** A server process sharing the database, as it last reported itself. */
export interface ServerProcess {
  readonly id: string;
  /** Where other processes reach its storage API (to forward chunks of its uploads), if anywhere. */
  readonly url: string | null;
  readonly startedAt: number;
  readonly heartbeatAt: number;
}

export interface CrawlerState {
  readonly name: string;
  readonly cycle: number;
  /** Last prefix finished in the current cycle; null before the first. */
  readonly position: string | null;
  readonly cycleStartedAt: number | null;
  readonly updatedAt: number;
  readonly counters: Readonly<Record<string, number>>;
}

export interface CrawlerCycle {
  readonly cycle: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly counters: Readonly<Record<string, number>>;
}

/** Which process runs a crawler (one per database), as the claim says. */
export interface CrawlerClaim {
  readonly name: string;
  /** The process id of the holder. */
  readonly holder: string;
  /** When the holder took the claim (renewals keep it). */
  readonly claimedAt: number;
  readonly renewedAt: number;
  /** The claim lapses at this time unless renewed: any process may take it then. */
  readonly expiresAt: number;
}

/** A restore of the database from a backup, or its start from empty in place of a lost one. */
export interface DatabaseRestore {
  /** Unix seconds: when the restored database was put in place. */
  readonly at: number;
  /** Why, e.g. `restore`, `rebuild`, `missing`, `damaged`. */
  readonly reason: string;
  /** The backup restored (its blob name); null: the database started empty. */
  readonly backup: string | null;
  /** When that backup was taken. */
  readonly backupCreatedAt: number | null;
  readonly actor: string | null;
}

/**
 * An invitation an operator issued: whoever presents its code gets an active account with its
 * quota, while it is neither revoked, expired nor spent.
 */
export interface InvitationRow {
  readonly id: number;
  /** SHA-256 of the code's secret, 64 lowercase hex. */
  readonly secretHash: string;
  /** The nickname the account gets; null: the client's own choice. */
  readonly nickname: string | null;
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
  /** Redemptions allowed in all. */
  readonly maxUses: number;
  /** Redemptions so far. */
  readonly uses: number;
  readonly createdAt: number;
  /** Refused from this time on (Unix seconds). */
  readonly expiresAt: number;
  readonly revokedAt: number | null;
  /** Who issued it. */
  readonly createdBy: string;
  /** The latest redemption's time; null: never used. */
  readonly lastUsedAt: number | null;
}

/** What `createInvitation` takes. */
export interface CreateInvitationInput {
  /** SHA-256 of the code's secret, 64 lowercase hex; the secret itself never reaches the database. */
  readonly secretHash: string;
  /** The nickname the account gets (account nicknames' rules); default none. */
  readonly nickname?: string | null;
  readonly hardQuotaBytes?: number | null;
  /** At most `hardQuotaBytes` when both are set. */
  readonly softQuotaBytes?: number | null;
  /** A positive integer, at most 1,000,000 (`MAX_INVITATION_USES`). */
  readonly maxUses: number;
  /** Unix seconds, after now. */
  readonly expiresAt: number;
  /** Who issues it (1–64 characters): the actor of its event, kept as `createdBy`. */
  readonly actor: string;
}

/**
 * What redeeming a code's hash came to: `redeemed` (the use counted, the row as it is after) or
 * why not, first match wins: `revoked`, `expired`, `spent` (no use left); `unknown`: no such hash.
 */
export type InvitationRedemption =
  | { readonly status: 'redeemed'; readonly invitation: InvitationRow }
  | { readonly status: 'unknown' }
  | { readonly status: 'revoked' | 'expired' | 'spent'; readonly invitation: InvitationRow };
