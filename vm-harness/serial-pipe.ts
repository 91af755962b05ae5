// A FIFO for QEMU's serial console output instead of node's stdio pipe. Node gives a child's stdout
// as a Unix socket pair, and QEMU writes the serial port's bytes to it one at a time, non-blocking:
// 278 one-byte writes fill the socket (each is a buffer of its own), then QEMU holds the guest's
// UART until this process reads, and firmware whose write times out drops the rest of its string
// (OVMF after 1 s: a rehearsal lost shim's "Verification failed" line that way while the test
// worker was slow to read). A FIFO holds 64 KiB of such writes, so a busy test worker costs
// nothing on the console.
import { constants, openSync, closeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import { run } from '../lib/process.ts';

export interface SerialPipe {
  /** The child's stdout (pass it as execa's `stdout`); close it with `parentDone` once spawned. */
  readonly childEnd: FileHandle;
  /** What the child writes; ends when every writer (the child and what it started) has closed. */
  readonly output: Socket;
  /** Drop this process's copy of the write end, so the output ends with the child. */
  parentDone(): Promise<void>;
}

/** Creates the FIFO `path` (in a directory of the caller's) and opens both ends. */
export async function openSerialPipe(path: string): Promise<SerialPipe> {
  await run('mkfifo', ['-m', '600', path]);
  // The read end first: a FIFO's non-blocking write end opens only once a reader exists.
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let childEnd: FileHandle;
  try {
    childEnd = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (error) {
    closeSync(readFd);
    throw error;
  }
  const output = new Socket({ fd: readFd, readable: true, writable: false });
  let closed = false;
  return {
    childEnd,
    output,
    async parentDone() {
      if (closed) return;
      closed = true;
      await childEnd.close();
    },
  };
}
