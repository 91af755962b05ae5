// A password for `netimage user add|passwd`: asked twice without echo on a terminal, else the
// first line of stdin (scripts: `printf '%s\n' "$PW" | netimage user passwd jdoe`). Never an
// option: a password on the command line would be in the shell history and in ps.
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { NetimageError } from '../../lib/errors.ts';

async function askHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  // The terminal echo goes to a stream that drops it.
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await rl.question('');
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export async function readNewPassword(user: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const first = (await text(process.stdin)).split(/\r?\n/)[0] ?? '';
    if (!first) throw new NetimageError('invalid', 'no password on stdin (the first line is the password)');
    return first;
  }
  const password = await askHidden(`New password for ${user}: `);
  if ((await askHidden('Again: ')) !== password) throw new NetimageError('invalid', 'the passwords differ: nothing changed');
  return password;
}
