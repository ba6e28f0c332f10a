/**
 * The half of the pattern-file rule that needs the file system: the `-f` files of a rule, once `checkAclFiles`
 * found them lexically inside the operator's directory, must still be there after symlinks are resolved, and be
 * regular files (a FIFO or a device would make `haproxy -c` block or read forever). Run at validation time,
 * before the config is checked; the directory is the operator's, so what is in it is trusted from then on.
 */
import { realpath, stat } from 'node:fs/promises';
import { CulmError } from '../core/errors.js';

/** Throws a 400 `E_RULE_ACL_FILE` naming the rule `id` when one of its `files` does not pass. */
export async function checkAclFilesOnDisk(id: string, files: readonly string[], dir: string): Promise<void> {
  if (files.length === 0) return;
  const refuse = (message: string): CulmError => new CulmError('E_RULE_ACL_FILE', `acl for ${id}: ${message}`, { status: 400 });
  let root: string;
  try {
    root = await realpath(dir);
  } catch {
    throw refuse(`the pattern-file directory ${dir} (HAProxy.AclFilesDir / CULM_ACL_FILES_DIR) does not exist`);
  }
  for (const file of files) {
    let real: string;
    try {
      real = await realpath(file);
    } catch {
      throw refuse(`-f ${JSON.stringify(file)}: no such file`);
    }
    if (!real.startsWith(root.endsWith('/') ? root : `${root}/`)) {
      throw refuse(`-f ${JSON.stringify(file)}: leads outside ${dir} (through a symlink)`);
    }
    const st = await stat(real);
    if (!st.isFile()) throw refuse(`-f ${JSON.stringify(file)}: not a regular file`);
  }
}
