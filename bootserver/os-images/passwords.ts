// Passwords of installed systems are hashed on the server with yescrypt (Debian 12's default),
// so only the hash is stored, shown to admins and sent to the PC. Hashing uses the server's own
// libxcrypt (the library PAM on the installed system checks with) through perl's crypt(): the
// password travels on stdin, never in argv or the environment, and keeps every byte (quotes,
// backslashes, UTF-8). Line breaks and other control characters are refused: nobody could type
// them at a login prompt, so such a password would lock the account out.
import { randomBytes } from 'node:crypto';
import { run } from '../../lib/process.ts';
import { NetimageError } from '../../lib/errors.ts';

/** Longest clear-text password accepted, in UTF-8 bytes. */
export const PASSWORD_MAX_BYTES = 256;

/** Hashes we accept as already hashed (a GET/PUT round trip must not hash twice). */
const HASHED = [/^\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}$/, /^\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/];

export class PasswordError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PasswordError';
  }
}

export function isPasswordHash(value: string): boolean {
  return HASHED.some((re) => re.test(value));
}

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** crypt's base64 as yescrypt uses it: 6-bit groups, least significant first. Pure. */
export function encode64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = bytes.subarray(i, i + 3);
    let value = 0;
    chunk.forEach((b, j) => (value |= b << (8 * j)));
    const chars = chunk.length + 1; // 1 byte -> 2 chars, 2 -> 3, 3 -> 4
    for (let k = 0; k < chars; k++) {
      out += ALPHABET[value & 63];
      value >>= 6;
    }
  }
  return out;
}

/** Refuse what cannot be a password; `what` names the property in the message. */
export function checkClearPassword(what: string, password: string): void {
  if (password.length === 0) throw new PasswordError(`${what} is empty: set a password (or a $y$ / $6$ crypt hash)`);
  if (password.includes('\0')) throw new PasswordError(`${what} contains a NUL character, which no Unix password can hold`);
  // eslint-disable-next-line no-control-regex
  const control = /[\u0001-\u001f\u007f]/.exec(password);
  if (control) {
    const name = control[0] === '\n' || control[0] === '\r' ? 'a line break' : `the control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;
    throw new PasswordError(`${what} contains ${name}, which cannot be typed at a login prompt (the account would be locked out); quotes, backslashes and non-ASCII letters are fine`);
  }
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes > PASSWORD_MAX_BYTES) throw new PasswordError(`${what} is too long (${bytes} bytes, at most ${PASSWORD_MAX_BYTES})`);
}

/** yescrypt with cost "j9T" (Debian 12's default, YESCRYPT_COST_FACTOR 5) and a random 16-byte salt. */
export async function hashPassword(password: string, salt: Uint8Array = randomBytes(16)): Promise<string> {
  checkClearPassword('the password', password);
  const setting = `$y$j9T$${encode64(salt)}`;
  const script = 'binmode STDIN; local $/; my $p = <STDIN>; my $h = crypt($p, $ARGV[0]); defined $h or exit 3; print $h';
  const { stdout } = await run('perl', ['-e', script, setting], { input: Buffer.from(password, 'utf8'), stripFinalNewline: false });
  // libxcrypt answers "*0"/"*1" for a setting it cannot use.
  if (!stdout.startsWith(`${setting}$`) || !isPasswordHash(stdout)) throw new PasswordError(`this server's libcrypt cannot hash with yescrypt (got ${JSON.stringify(stdout.slice(0, 3))})`);
  return stdout;
}

/** Check a clear password against a crypt hash with the same library (tests, diagnostics). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const script = 'binmode STDIN; local $/; my $p = <STDIN>; print crypt($p, $ARGV[0]) eq $ARGV[0] ? "yes" : "no"';
  const { stdout } = await run('perl', ['-e', script, hash], { input: Buffer.from(password, 'utf8') });
  return stdout === 'yes';
}
