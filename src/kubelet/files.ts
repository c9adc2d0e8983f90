// Writing kubelet's files safely: a crash at any moment leaves either the old file or
// the new one, never half of each; the original is kept once, beside the file.
import { closeSync, constants, copyFileSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, chownSync } from 'node:fs';
import { dirname } from 'node:path';

export const BACKUP_SUFFIX = '.nodedns-backup';

export function backupPath(file: string): string {
  return file + BACKUP_SUFFIX;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Temporary file in the same directory, fsync, rename over the target; keeps mode and owner. */
export function writeAtomic(file: string, text: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  const tmp = `${file}.nodedns-tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', st ? st.mode & 0o7777 : 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    if (st && (st.uid !== process.getuid?.() || st.gid !== process.getgid?.())) {
      try {
        chownSync(tmp, st.uid, st.gid);
      } catch (e) {
        // without CAP_CHOWN the new file keeps our owner; kubelet (root) reads it either way
        if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
      }
    }
    renameSync(tmp, file);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  fsyncDir(dirname(file));
}

/** Copies the original aside the first time only; returns false when a backup already existed. */
export function backupOnce(file: string): boolean {
  const dest = backupPath(file);
  try {
    copyFileSync(file, dest, constants.COPYFILE_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  const fd = openSync(dest, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  fsyncDir(dirname(file));
  return true;
}
