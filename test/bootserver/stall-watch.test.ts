import test from 'ava';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../lib/logger.ts';
import { blockedMs, watchStalls } from '../../bootserver/stall-watch.ts';

test('blocked time is what the timer was late by, never negative', (t) => {
  t.is(blockedMs(250, 250), 0);
  t.is(blockedMs(250, 240), 0);
  t.is(blockedMs(250, 3250), 3000);
});

test('a loop blocked for 1.3 s is logged once as a warning; a free-running loop is not', async (t) => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  const watch = watchStalls({ log: createLogger({ level: 'info', destination: stream }) });
  t.teardown(() => watch.stop());
  await new Promise((r) => setTimeout(r, 600));
  t.is(text, '', 'nothing while the loop runs freely');
  const until = Date.now() + 1300;
  while (Date.now() < until) {
    // a synchronous stretch, like a long synchronous store call
  }
  await new Promise((r) => setTimeout(r, 400));
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; blockedMs: number; msg: string });
  t.is(lines.length, 1, text);
  t.is(lines[0]!.level, 40);
  t.true(lines[0]!.blockedMs >= 1000 && lines[0]!.blockedMs < 2000, String(lines[0]!.blockedMs));
  t.regex(lines[0]!.msg, /event loop blocked for 1\.\d s/);
});
