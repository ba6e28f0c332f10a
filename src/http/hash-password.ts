/**
 * `culm hash-password`: reads a password from stdin (the first line; a pipe or a typed line) and prints the
 * scrypt hash to put after `user:` in CULM_API_USERS_FILE. From stdin, not an argument: arguments show in `ps`
 * and in shell history.
 */
import { hashPassword } from './passwords.js';

export async function hashPasswordCommand(stdin: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  if ((stdin as { isTTY?: boolean }).isTTY) stderr.write('password (then Enter): ');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) {
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    if (chunks.some((c) => c.includes(10))) break;
  }
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
  if (password === '') {
    stderr.write('culm hash-password: empty password on stdin\n');
    return 2;
  }
  stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
