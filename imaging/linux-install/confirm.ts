// askbeforeinst: show on the PC's console what will be wiped, count down visibly, go on at zero
// or at once on Enter; "no" (or "n", "abort") + Enter aborts with nothing changed.
import { openSync } from 'node:fs';
import { isatty, ReadStream } from 'node:tty';
import { ProductError } from '../../lib/netboot-product.ts';

export interface ConsoleIo {
  /** Write text to the screen (no newline added). */
  write(text: string): void;
  /** Lines typed at the console; ends when closed. */
  lines(): AsyncIterable<string>;
  close(): void;
}

export type Answer = 'go' | 'abort' | 'timeout';

export function parseAnswer(line: string): Answer {
  return /^\s*(n|no|nein|a|abort)\s*$/i.test(line) ? 'abort' : 'go';
}

/** Count down `seconds`, showing the rest; resolves on the first typed line or at zero. */
export async function confirmOnConsole(io: ConsoleIo, lines: string[], seconds: number, signal?: AbortSignal): Promise<Answer> {
  io.write(`\n${lines.join('\n')}\n\nPress Enter to start now, type "no" and Enter to abort.\n`);
  let answered: Answer | null = null;
  const reading = (async () => {
    for await (const line of io.lines()) {
      answered = parseAnswer(line);
      return;
    }
  })().catch(() => undefined);
  try {
    for (let left = seconds; left > 0 && answered === null; left--) {
      if (signal?.aborted) throw signal.reason;
      io.write(`\rInstalling in ${String(left).padStart(3)} s ... `);
      await Promise.race([new Promise((r) => setTimeout(r, 1000)), reading]);
    }
    io.write('\n');
    return answered ?? 'timeout';
  } finally {
    io.close();
  }
}

/** The agent's console: /dev/console as a tty (keyboard in, screen and serial out). */
export function systemConsole(path = '/dev/console'): ConsoleIo {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r+');
  } catch {
    // no console to read: the countdown alone
  }
  if (fd === null || !isatty(fd)) return { write: (text) => process.stdout.write(text), lines: async function* () {}, close: () => undefined };
  const input = new ReadStream(fd);
  input.setEncoding('utf8');
  return {
    write: (text) => process.stdout.write(text),
    async *lines() {
      let buffer = '';
      for await (const chunk of input) {
        buffer += chunk as string;
        let i: number;
        while ((i = buffer.indexOf('\n')) >= 0) {
          yield buffer.slice(0, i).replace(/\r$/, '');
          buffer = buffer.slice(i + 1);
        }
      }
    },
    close: () => input.destroy(),
  };
}

export async function askBeforeInstall(lines: string[], seconds: number, log: (l: string) => void, io: ConsoleIo = systemConsole(), signal?: AbortSignal): Promise<void> {
  log(`askbeforeinst: waiting up to ${seconds} s on the console (Enter starts, "no" aborts)`);
  const answer = await confirmOnConsole(io, lines, seconds, signal);
  if (answer === 'abort') throw new ProductError('aborted on the PC\'s console (askbeforeinst); nothing was changed');
  log(answer === 'go' ? 'askbeforeinst: confirmed on the console' : 'askbeforeinst: no answer, going on');
}
