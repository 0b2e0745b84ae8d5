/**
 * The data directory's format version (issue 16). Every change to what is on disk that an
 * older kalandrad could not read raises DATA_FORMAT_VERSION and adds a migration; the
 * version is recorded in `<data>/format.json` and backups name it in their manifest.
 */
export const DATA_FORMAT_VERSION = 1;

/** File in the data directory holding `{ "format": <version> }`. */
export const FORMAT_FILE = "format.json";
