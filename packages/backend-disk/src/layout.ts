import { join } from 'node:path';
import { MAX_SHNUM, sharePrefixOf } from '@ostrom/protocol/facts';

// Tahoe-LAFS's storage directory, as its storage server lays it out (storage/server.py):
//   <root>/shares/<pp>/<SI>/<shnum>            complete shares, pp = the first two SI characters
//   <root>/shares/incoming/<pp>/<SI>/<shnum>   immutable uploads in progress
// plus, of Ostrom's own, <root>/ostrom-state/ for sealed state blobs. Every caller validates the
// storage index, share number and blob name before a path is built from them.

export interface DiskLayout {
  readonly root: string;
  readonly shares: string;
  readonly incoming: string;
  readonly state: string;
}

export function diskLayout(root: string): DiskLayout {
  const shares = join(root, 'shares');
  return { root, shares, incoming: join(shares, 'incoming'), state: join(root, 'ostrom-state') };
}

export function shareSetDir(layout: DiskLayout, storageIndex: string): string {
  return join(layout.shares, sharePrefixOf(storageIndex), storageIndex);
}

export function sharePath(layout: DiskLayout, storageIndex: string, shnum: number): string {
  return join(shareSetDir(layout, storageIndex), String(shnum));
}

export function incomingSetDir(layout: DiskLayout, storageIndex: string): string {
  return join(layout.incoming, sharePrefixOf(storageIndex), storageIndex);
}

export function incomingPath(layout: DiskLayout, storageIndex: string, shnum: number): string {
  return join(incomingSetDir(layout, storageIndex), String(shnum));
}

export function blobPath(layout: DiskLayout, name: string): string {
  return join(layout.state, ...name.split('/'));
}

/** Share file names are decimal share numbers 0–255 (Tahoe: `^[0-9]+$`). */
export function parseShareFileName(name: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(name)) return undefined;
  const shnum = Number(name);
  return shnum <= MAX_SHNUM ? shnum : undefined;
}
