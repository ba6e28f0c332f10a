/**
 * Pure text helpers used across culm: quoting for /bin/sh, and redaction of secrets in URLs for logs,
 * messages and `/readyz`.
 */

/** Single-quotes a word for /bin/sh when it needs it (each `'` written as `'\''`). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A URL (or a text starting with one) as logs may show it: the password of its userinfo
 * (`http://user:secret@host` → `http://user:[redacted]@host`) and the value of a `token` query parameter
 * (the callback secret) are replaced by `[redacted]`; anything else is unchanged.
 */
export function redactUrl(text: string): string {
  return text
    // Anywhere in the text, up to the last `@` of the URL: a password typed raw may hold `/` or `@` (over-redacting a
    // path that holds an `@` is the safe side).
    .replace(/([a-z][a-z0-9+.-]*:\/\/)((?:(?!:\/\/)[^\s"'<>,])*)@/gi, (_m, scheme: string, info: string) => `${scheme}${info.split(/[:/]/)[0]}:[redacted]@`)
    .replace(/([?&]token=)[^&#\s]*/g, '$1[redacted]');
}

/** `s` matched literally inside a RegExp. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A config as culm shows it (REST, console, diffs): the password hashes of `userlist` users (HAPROXY_{n}_AUTH)
 * redacted, so a reader cannot crack an app's basic auth offline. HAProxy gets the file itself. A diff's
 * lines (`+`, `-` or ` ` first) are redacted the same way.
 */
export const redactConfigText = (text: string): string =>
  (!text.includes('password ') ? text : text.replace(/^([+-]?\s*user\s+\S+\s+(?:password|insecure-password)\s+)\S+/gm, '$1[redacted]'));
