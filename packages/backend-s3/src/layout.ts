import { MAX_SHNUM, sharePrefixOf } from '@ostrom/protocol/facts';

// Object keys, all under the backend's optional `prefix`:
//
//   shares/<pp>/<SI>/<shnum>               complete shares only: immutable data, or a mutable
//                                          share's manifest
//   chunks/<pp>/<SI>/<shnum>.<gen>.<i>     chunk i of a mutable share, written in generation gen
//   incoming/<pp>/<SI>/<shnum>/<token>/<begin>-<end>
//                                          staged bytes of an immutable upload in progress
//   state/<name>                           sealed state blobs
//
// Chunks live outside `shares/` so that a delimiter listing of `shares/<pp>/` names exactly the
// storage indexes that hold a complete share, even when a crash left orphaned chunk objects.

export interface S3Layout {
  /** `shares/<pp>/` under the root: its common prefixes are the storage indexes. */
  sharePrefixDir(prefix: string): string;
  /** `shares/` under the root: every share key (and multipart upload of one) starts with it. */
  sharesRoot(): string;
  shareSetDir(storageIndex: string): string;
  shareKey(storageIndex: string, shnum: number): string;
  chunkKey(storageIndex: string, shnum: number, generation: number, index: number): string;
  /** Every chunk object of one mutable share, whatever its generation. */
  chunkPrefix(storageIndex: string, shnum: number): string;
  incomingRoot(): string;
  uploadDir(storageIndex: string, shnum: number, token: string): string;
  stagedKey(storageIndex: string, shnum: number, token: string, begin: number, end: number): string;
  stateRoot(): string;
  blobKey(name: string): string;
}

export function s3Layout(root: string): S3Layout {
  const pp = sharePrefixOf;
  const layout: S3Layout = {
    sharePrefixDir: (prefix) => `${root}shares/${prefix}/`,
    sharesRoot: () => `${root}shares/`,
    shareSetDir: (si) => `${root}shares/${pp(si)}/${si}/`,
    shareKey: (si, shnum) => `${root}shares/${pp(si)}/${si}/${shnum}`,
    chunkKey: (si, shnum, generation, index) =>
      `${root}chunks/${pp(si)}/${si}/${shnum}.${generation}.${index}`,
    chunkPrefix: (si, shnum) => `${root}chunks/${pp(si)}/${si}/${shnum}.`,
    incomingRoot: () => `${root}incoming/`,
    uploadDir: (si, shnum, token) => `${root}incoming/${pp(si)}/${si}/${shnum}/${token}/`,
    stagedKey: (si, shnum, token, begin, end) =>
      `${layout.uploadDir(si, shnum, token)}${begin}-${end}`,
    stateRoot: () => `${root}state/`,
    blobKey: (name) => `${root}state/${name}`,
  };
  return layout;
}

const SHNUM_NAME = /^(0|[1-9][0-9]{0,2})$/;

/** The share number a key's last segment names, or undefined for anything else. */
export function parseShnum(name: string): number | undefined {
  if (!SHNUM_NAME.test(name)) return undefined;
  const shnum = Number(name);
  return shnum <= MAX_SHNUM ? shnum : undefined;
}
