import test from 'ava';
import { negotiate } from '../../bootserver/tftp/negotiate.ts';
import { retransmitDelayMs, SendWindow } from '../../bootserver/tftp/window.ts';

const sent = (w: SendWindow) => [w.sendFrom, w.sendTo];

test('lock-step without options: blocks 1..n, final short block', (t) => {
  const w = new SendWindow(1000, 512, 1, false, 3);
  t.is(w.lastBlock, 2);
  w.start();
  t.deepEqual(sent(w), [1, 1]);
  t.is(w.onAck(1), 'advance');
  t.deepEqual(sent(w), [2, 2]);
  t.is(w.onAck(2), 'complete');
  t.true(w.done);
});

test('size a multiple of blksize ends with an empty block; empty file is one empty block', (t) => {
  t.is(new SendWindow(1024, 512, 1, false, 3).lastBlock, 3);
  t.is(new SendWindow(0, 512, 1, false, 3).lastBlock, 1);
});

test('OACK is block 0: ACK 0 starts the data window', (t) => {
  const w = new SendWindow(10_000, 1000, 4, true, 3);
  w.start();
  t.deepEqual(sent(w), [0, 0]);
  t.is(w.onAck(0), 'advance');
  t.deepEqual(sent(w), [1, 4]);
});

test('duplicate ACK is never answered with data (Sorcerer\'s Apprentice)', (t) => {
  const w = new SendWindow(10_000, 512, 1, false, 3);
  w.start();
  t.is(w.onAck(1), 'advance');
  t.deepEqual(sent(w), [2, 2]);
  t.is(w.onAck(1), 'duplicate');
  t.is(w.onAck(1), 'duplicate');
  t.is(w.duplicates, 2);
  t.is(w.onAck(2), 'advance');
  t.deepEqual(sent(w), [3, 3]);
});

test('ACK inside the window slides it to that block; a repeat of it is a duplicate', (t) => {
  const w = new SendWindow(100_000, 512, 8, false, 3);
  w.start();
  t.deepEqual(sent(w), [1, 8]);
  t.is(w.onAck(5), 'advance', 'client lost block 6 and acknowledges 5');
  t.deepEqual(sent(w), [6, 13]);
  t.is(w.onAck(5), 'duplicate', 'late packets of the old window make it repeat ACK 5');
  t.is(w.onAck(13), 'advance');
  t.deepEqual(sent(w), [14, 21]);
});

test('out-of-window ACKs (future or stale) are ignored', (t) => {
  const w = new SendWindow(100_000, 512, 4, false, 3);
  w.start();
  t.is(w.onAck(9), 'out-of-window');
  t.is(w.onAck(4), 'advance');
  t.is(w.onAck(2), 'out-of-window', 'stale ACK from before the slide');
  t.is(w.onAck(60_000), 'out-of-window');
  t.is(w.acked, 4);
  t.is(w.outOfWindow, 3);
});

test('timeout resends the window from the first unacknowledged block, then gives up', (t) => {
  const w = new SendWindow(100_000, 512, 4, true, 2);
  w.start();
  t.is(w.onTimeout(), 'resend');
  t.deepEqual(sent(w), [0, 0], 'OACK resent');
  w.onAck(0);
  w.onAck(2);
  t.is(w.onTimeout(), 'resend');
  t.deepEqual(sent(w), [3, 6]);
  t.is(w.onTimeout(), 'resend');
  t.is(w.onTimeout(), 'give-up');
  t.is(w.onAck(6), 'advance', 'progress resets the retry count');
  t.is(w.retries, 0);
});

test('block numbers roll over past 65535 on the wire', (t) => {
  const blocks = 70_000;
  const w = new SendWindow(blocks * 8 + 3, 8, 16, false, 3);
  w.start();
  let guard = 0;
  while (!w.done && guard++ < 10_000) {
    const wire = w.sendTo & 0xffff;
    const outcome = w.onAck(wire);
    t.true(outcome === 'advance' || outcome === 'complete');
  }
  t.true(w.done);
  t.is(w.lastBlock, blocks + 1);
  // Around the wrap a window is 65530..65545 absolute, 65530..65535,0..9 on the wire.
  const v = new SendWindow(blocks * 8, 8, 16, false, 3);
  v.start();
  while (v.sendTo < 65_529) v.onAck(v.sendTo & 0xffff);
  t.is(v.onAck(65_529), 'advance');
  t.deepEqual(sent(v), [65_530, 65_545]);
  t.is(v.onAck(3), 'advance', 'wire 3 is absolute 65539');
  t.is(v.acked, 65_539);
});

test('wire ACK maps across the wrap: ACK 0 after 65535 is block 65536', (t) => {
  const w = new SendWindow(70_000 * 512, 512, 1, false, 3);
  w.start();
  for (let b = 1; b <= 65_535; b++) t.is(w.onAck(b & 0xffff), 'advance');
  t.deepEqual(sent(w), [65_536, 65_536]);
  t.is(w.onAck(65_535), 'duplicate');
  t.is(w.onAck(0), 'advance');
  t.is(w.acked, 65_536);
});

test('negotiation: caps, garbage, tsize, timeout, OACK only when something is accepted', (t) => {
  const limits = { maxBlksize: 1468, maxWindowsize: 64, defaultTimeoutMs: 1000, maxWindowBytes: 1 << 20 };
  const n = negotiate({ blksize: '65464', windowsize: '1000', tsize: '0', timeout: '3', foo: 'bar' }, ['blksize', 'windowsize', 'tsize', 'timeout', 'foo'], 4242, limits);
  t.is(n.blksize, 1468);
  t.is(n.windowsize, 64);
  t.is(n.timeoutMs, 1000, 'never slower than our own timeout');
  t.deepEqual(n.oack?.order, ['blksize', 'windowsize', 'tsize', 'timeout']);
  t.is(n.oack?.options['tsize'], '4242');
  t.is(n.oack?.options['timeout'], '3', 'timeout echoed unchanged');
  const garbage = negotiate({ blksize: '7', windowsize: '0', timeout: '256', tsize: 'x', other: '1' }, ['blksize', 'windowsize', 'timeout', 'tsize', 'other'], 1, limits);
  t.is(garbage.oack, null);
  t.is(garbage.blksize, 512);
  t.is(garbage.windowsize, 1);
  t.is(negotiate({ blksize: '1e3' }, ['blksize'], 1, limits).oack, null);
  t.is(negotiate({ blksize: '8' }, ['blksize'], 1, limits).blksize, 8);
  t.is(negotiate({ blksize: '65464' }, ['blksize'], 1, { ...limits, maxBlksize: 65464 }).blksize, 65464);
});

test('negotiation: windowsize is lowered so one window stays within maxWindowBytes', (t) => {
  const limits = { maxBlksize: 65464, maxWindowsize: 64, defaultTimeoutMs: 1000, maxWindowBytes: 65536 };
  const big = negotiate({ windowsize: '16', blksize: '8192' }, ['windowsize', 'blksize'], 1, limits);
  t.is(big.windowsize, 8);
  t.is(big.oack?.options['windowsize'], '8');
  t.is(negotiate({ blksize: '1468', windowsize: '16' }, ['blksize', 'windowsize'], 1, limits).windowsize, 16);
  t.is(negotiate({ blksize: '65464', windowsize: '16' }, ['blksize', 'windowsize'], 1, limits).windowsize, 1);
});

test('retransmit delay doubles per timeout without progress, capped', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((r) => retransmitDelayMs(100, r)), [100, 200, 400, 800, 1600, 3200, 6000, 6000]);
  t.deepEqual([0, 1, 2, 3].map((r) => retransmitDelayMs(1000, r, 3000)), [1000, 2000, 3000, 3000]);
  t.is(retransmitDelayMs(10_000, 0), 10_000, 'cap never below the base');
});
