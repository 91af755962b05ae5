// The VM serial console's FIFO (vm-harness/serial-pipe.ts). The writer below does what QEMU does
// with a serial port's output: one byte per non-blocking write, and a byte the pipe refuses is
// lost (QEMU holds the guest's UART, and firmware gives up on the string). This process does not
// read until the writer has finished, like a test worker busy elsewhere.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from '../../lib/process.ts';
import { openSerialPipe } from '../../vm-harness/serial-pipe.ts';

const BYTES = 20_000;
// process.stdout makes fd 1 a non-blocking libuv pipe, as QEMU makes its stdout.
const WRITER = `
const { writeSync } = require('node:fs');
process.stdout;
let refused = 0;
for (let i = 0; i < ${BYTES}; i++) {
  try { writeSync(1, String(i % 10)); } catch (e) { if (e.code !== 'EAGAIN') throw e; refused++; }
}
process.stderr.write(String(refused));
`;

/** Blocks this process's event loop (no reads) until the child has exited: a zombie until node reaps it. */
function blockUntilExited(pid: number): void {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let stat = '';
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (/^\d+ \(.*\) Z/.test(stat) || Date.now() > deadline) return;
    const until = Date.now() + 20;
    while (Date.now() < until);
  }
}

test('a FIFO takes 20 000 one-byte writes while nobody reads; node\'s socket pair refuses most of them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-serialpipe-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const serial = await openSerialPipe(join(dir, 'serial'));
  const chunks: Buffer[] = [];
  const fifo = execa(process.execPath, ['-e', WRITER], { stdout: serial.childEnd as unknown as 'ignore', reject: false });
  await serial.parentDone();
  blockUntilExited(fifo.pid!);
  serial.output.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => serial.output.once('close', r));
  const viaFifo = await fifo;
  await ended;
  t.is(viaFifo.exitCode, 0, viaFifo.stderr);
  t.is(viaFifo.stderr, '0', 'no write refused');
  const text = Buffer.concat(chunks).toString();
  t.is(text.length, BYTES);
  t.is(text, Array.from({ length: BYTES }, (_, i) => String(i % 10)).join(''), 'every byte, in order');

  // What QEMU's stdout was before: the same writer against execa's stdout pipe.
  const socket = execa(process.execPath, ['-e', WRITER], { stdout: 'pipe', reject: false });
  blockUntilExited(socket.pid!);
  const viaSocket = await socket;
  const refused = Number(viaSocket.stderr);
  t.log(`socket pair: ${refused} of ${BYTES} one-byte writes refused; FIFO: 0`);
  t.true(refused > BYTES / 2, `refused ${viaSocket.stderr}`);
  t.is(viaSocket.stdout.length, BYTES - refused);
});
