/** This server's version, reported as `application-version` (Tahoe shows it on its welcome page). */
export const VERSION = '0.1.0';

/** The `application-version` string of the version map. */
export const APPLICATION_VERSION = `ostrom/${VERSION}`;
