// Making file-system changes survive a crash: a rename or a new file is durable
// only once its directory is fsynced, and a file's bytes once the file is.
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Makes the directory's entries (new, renamed, removed files) durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and durably: write a temporary file, fsync, rename, fsync the directory. */
export function replaceFileDurably(path: string, data: string | Uint8Array, mode = 0o644): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, "w", mode);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  fsyncDirectory(dirname(path));
}
