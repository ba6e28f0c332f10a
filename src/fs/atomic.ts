/** Files that are never seen half-written: write a temp file beside the target, fsync, rename over it. */
import { dirname } from 'node:path';
import { open, rename, rm } from 'node:fs/promises';

/** Pieces are gathered into writes of about this many characters. */
const BATCH = 1 << 20;

/**
 * Writes `content` to `path` and fsyncs it (the caller renames it into place). `content` may be given in
 * pieces (made as they are written, e.g. one per app), so a large file never exists whole in memory.
 */
export async function writeDurably(path: string, content: string | Iterable<string>): Promise<void> {
  const handle = await open(path, 'w', 0o644);
  try {
    if (typeof content === 'string') await handle.writeFile(content, 'utf8');
    else {
      let batch = '';
      for (const piece of content) {
        batch += piece;
        if (batch.length >= BATCH) {
          // writeFile on a handle writes at the current position, all of it.
          await handle.writeFile(batch, 'utf8');
          batch = '';
        }
      }
      if (batch !== '') await handle.writeFile(batch, 'utf8');
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes a rename in `dir` durable: without it, a crash right after can bring back the old directory entry.
 * Best effort: a file system that cannot sync a directory (EINVAL, EISDIR on some) is not an error.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    /* not supported here */
  } finally {
    await handle?.close();
  }
}

/** Moves a written file over `path` and makes the move durable. */
export async function renameDurably(from: string, path: string): Promise<void> {
  await rename(from, path);
  await syncDir(dirname(path));
}

/** Replaces `path` with `content` atomically. */
export async function writeAtomically(path: string, content: string | Iterable<string>): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeDurably(tmp, content);
    await renameDurably(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
