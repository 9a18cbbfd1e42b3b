import { viewOf } from './bytes.js';
import { ContainerFormatError } from './errors.js';
import { type ImmutableContainer, readImmutableContainer } from './immutable.js';
import {
  MUTABLE_MAGIC_BYTES,
  type MutableContainer,
  mutableMagicVersion,
  readMutableContainer,
} from './mutable.js';
import { assertReader, type ContainerReader, readExactly } from './reader.js';
import { type ContainerVersion, isContainerVersion } from './version.js';

/** The two kinds of share container, by Tahoe's `sharetype` names. */
export const CONTAINER_KINDS = ['immutable', 'mutable'] as const;

export type ContainerKind = (typeof CONTAINER_KINDS)[number];

/** What the first bytes of a share file say it is. */
export interface DetectedContainer {
  readonly kind: ContainerKind;
  readonly version: ContainerVersion;
}

/** Either parsed container; `kind` tells which. */
export type ShareContainer = ImmutableContainer | MutableContainer;

/**
 * The kind and version of a share file from its first 32 bytes (fewer if the file is shorter),
 * or undefined when they match neither. Tahoe's rule (`shares.get_share_file`): a known
 * mutable magic means mutable, anything else is immutable if its leading u32 is a known
 * immutable version.
 */
export function detectContainer(firstBytes: Uint8Array): DetectedContainer | undefined {
  if (!(firstBytes instanceof Uint8Array))
    throw new TypeError('detectContainer needs a Uint8Array');
  const mutableVersion = mutableMagicVersion(firstBytes);
  if (mutableVersion !== undefined) return { kind: 'mutable', version: mutableVersion };
  if (firstBytes.length < 4) return undefined;
  const version = viewOf(firstBytes).getUint32(0);
  return isContainerVersion(version) ? { kind: 'immutable', version } : undefined;
}

/**
 * Detects and parses a share container. Throws {@link ContainerFormatError}: `TRUNCATED` for a
 * file too short to hold even a version number, `UNKNOWN_CONTAINER` when it is neither kind,
 * and whatever the kind's reader throws.
 */
export async function readContainer(reader: ContainerReader): Promise<ShareContainer> {
  assertReader(reader);
  if (reader.size < 4) {
    throw new ContainerFormatError(
      'TRUNCATED',
      `a ${reader.size}-byte file is no share container`,
      {
        details: { size: reader.size },
      },
    );
  }
  const first = await readExactly(reader, 0, Math.min(reader.size, MUTABLE_MAGIC_BYTES));
  const detected = detectContainer(first);
  if (detected === undefined) {
    throw new ContainerFormatError(
      'UNKNOWN_CONTAINER',
      'neither a mutable nor an immutable container',
      {
        details: { version: viewOf(first).getUint32(0) },
      },
    );
  }
  return detected.kind === 'mutable'
    ? await readMutableContainer(reader)
    : await readImmutableContainer(reader);
}
