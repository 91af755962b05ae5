// collectOutput() with a real child process: the line collection the lab daemons and the VM serial
// console (vm-harness/qemu.ts) share.
import test from 'ava';
import { execa } from '../../lib/process.ts';
import { collectOutput, type CollectedLine } from '../../vm-harness/child-output.ts';
import { cleanSerialText } from '../../vm-harness/qemu.ts';

test('lines split on \\n and \\r, cleaned, blank ones dropped; a quiet prompt is offered before it ends', async (t) => {
  // The child waits for our input after the prompt, so the prompt stays quiet however slow the machine.
  const child = execa('sh', ['-c', 'printf "one\\r\\n\\r\\ntwo\\rthree\\n\\033[1mgrub> "; read answer; printf "$answer\\n"'], { buffer: false, stdin: 'pipe', stdout: 'pipe', stderr: 'ignore' });
  const output = collectOutput(child, { streams: ['stdout'], encoding: 'latin1', clean: cleanSerialText, quietMs: 150 });
  const seen: Array<[string, number, boolean]> = [];
  const prompted = new Promise<void>((resolve) =>
    output.onLine((line: CollectedLine, index, complete) => {
      seen.push([line.text, index, complete]);
      if (!complete) resolve();
    }),
  );
  await prompted;
  const partial = output.partial();
  t.deepEqual(partial && { text: partial.text, quiet: partial.quiet }, { text: 'grub> ', quiet: true });
  child.stdin!.end('ls\n');
  await child;
  await output.ended;
  t.deepEqual(output.texts(), ['one', 'two', 'three', 'grub> ls']);
  t.deepEqual(seen, [
    ['one', 0, true],
    ['two', 1, true],
    ['three', 2, true],
    ['grub> ', 3, false],
    ['grub> ls', 3, true],
  ]);
  t.true(output.exited);
  t.is(output.partial(), null);
});

test('the last line without a newline is kept when the process ends; waitFor fails with the output on exit', async (t) => {
  const child = execa('sh', ['-c', 'echo starting; printf "no newline" >&2; exit 3'], { buffer: false, reject: false });
  const output = collectOutput(child);
  const error = await t.throwsAsync(output.waitFor(/ready/, 5000, 'the daemon'));
  t.regex(error!.message, /the daemon did not start \(it exited\)/);
  await output.ended;
  t.deepEqual(output.texts().sort(), ['no newline', 'starting']);
});
