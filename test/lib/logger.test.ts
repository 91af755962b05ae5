import test from 'ava';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../lib/logger.ts';

test('logger writes JSON lines with the component of its child', async (t) => {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  const log = createLogger({ level: 'info', destination: out }).child({ component: 'tftp' });
  log.info({ file: 'grub/grub.cfg' }, 'served');
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(chunks.join('').trim()) as Record<string, unknown>;
  t.is(line['component'], 'tftp');
  t.is(line['msg'], 'served');
});
