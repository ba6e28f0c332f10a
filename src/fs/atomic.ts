/** Files that are never seen half-written: write a temp file beside the target, fsync, rename over it. */
import { dirname } from 'node:path';
import { open, rename, rm, writeFile } from 'node:fs/promises';

/** Pieces are gathered into writes of about this many characters. */
const BATCH = 1 << 20;

/**
 * Writes `content` to `path` and fsyncs it (the caller renames it into place). `content` may be given in
 * pieces (made as they are written, e.g. one per app), so a large file never exists whole in memory.
 */
export async function writeDurably(path: string, content: string | Iterable<string>): Promise<void> {
  await (await writeThenSync(path, content)).synced;
}

/** A file written, whose fsync is still running: await `synced` before anything that makes the file count. */
export interface Pending {
  /** Settles once the file's content is on disk (and its handle closed); never an unhandled rejection. */
  readonly synced: Promise<void>;
}

/**
 * Writes `content` to `path` and starts its fsync without waiting for it: the caller overlaps the fsync with
 * work that only reads the file (`haproxy -c`, runtime API commands) and awaits `synced` before the rename
 * that makes it count. A crash before then leaves at worst a candidate nothing names.
 */
export async function writeThenSync(path: string, content: string | Iterable<string>): Promise<Pending> {
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
  } catch (err) {
    await handle.close();
    throw err;
  }
  const synced = handle.sync().finally(() => handle.close());
  synced.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
  return { synced };
}

/** One `Pending` for several. */
export const allSynced = (pending: readonly Pending[]): Pending => {
  const synced = Promise.all(pending.map((p) => p.synced)).then(() => undefined);
  synced.catch(() => undefined);
  return { synced };
};

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

const tmpPathFor = (path: string): string => `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;

/** Replaces `path` with `content` atomically. */
export async function writeAtomically(path: string, content: string | Iterable<string>): Promise<void> {
  const tmp = tmpPathFor(path);
  try {
    await writeDurably(tmp, content);
    await renameDurably(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Replaces `path` with `content` atomically (temp file, rename) at once, and makes it durable in the
 * background: `synced` settles when the content and the directory entry are on disk. For a file that only
 * counts once another one names it (a map a config refers to): await `synced` before that other rename.
 */
export async function replaceThenSync(path: string, content: string | Iterable<string>): Promise<Pending> {
  const tmp = tmpPathFor(path);
  let written: Pending;
  try {
    written = await writeThenSync(tmp, content);
    // The inode keeps its handle through the rename: the fsync still running covers the new name's content.
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const synced = written.synced.then(() => syncDir(dirname(path)));
  synced.catch(() => undefined);
  return { synced };
}

/**
 * Replaces `path` atomically, without fsync: for a file that is read at once and worthless after a crash
 * (the server states HAProxy loads at the reload that follows). `content` may arrive in pieces (read from a
 * socket as it is written); if they fail, `path` is left as it was.
 */
export async function replaceNow(path: string, content: string | AsyncIterable<string>): Promise<void> {
  const tmp = tmpPathFor(path);
  try {
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
