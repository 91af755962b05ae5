import test from 'ava';
import {
  ackBlockOf,
  errorPacket,
  OP_ACK,
  OP_DATA,
  OP_ERROR,
  OP_OACK,
  OP_RRQ,
  OP_WRQ,
  parsePacket,
  serializePacket,
  writeDataHeader,
} from '../../bootserver/tftp/codec.ts';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

test('RRQ with options: names lowercased, values kept, order kept', (t) => {
  const r = parsePacket(bytes([0, 1], 'grub/grub.cfg\0', 'OCTET\0', 'BlkSize\0', '1468\0', 'tsize\0', '0\0', 'WINDOWSIZE\0', '16\0'));
  if (!r.ok) return t.fail(r.reason);
  t.deepEqual({ ...r.packet }, {
    op: OP_RRQ,
    filename: 'grub/grub.cfg',
    mode: 'octet',
    options: Object.assign(Object.create(null), { blksize: '1468', tsize: '0', windowsize: '16' }),
    optionOrder: ['blksize', 'tsize', 'windowsize'],
  });
});

test('RRQ: dangling option name, empty name and repeated option are ignored, not fatal', (t) => {
  const r = parsePacket(bytes([0, 1], 'f\0octet\0', 'blksize\0', '1024\0', '\0', 'x\0', 'BLKSIZE\0', '8\0', 'tsize\0'));
  if (!r.ok || r.packet.op !== OP_RRQ) return t.fail();
  t.deepEqual(r.packet.optionOrder, ['blksize']);
  t.is(r.packet.options['blksize'], '1024');
});

test('WRQ parses as WRQ', (t) => {
  const r = parsePacket(bytes([0, 2], 'up\0octet\0'));
  t.true(r.ok && r.packet.op === OP_WRQ);
});

test('malformed requests are rejected with a reason', (t) => {
  const cases: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([0]),
    bytes([0, 1], 'file'), // no NUL
    bytes([0, 1], 'file\0'), // no mode
    bytes([0, 1], 'file\0octet'), // mode not terminated
    bytes([0, 1], '\0octet\0'), // empty name
    bytes([0, 1], 'f\0\0'), // empty mode
    bytes([0, 1], 'f\0octet\0blksize\x00512'), // option value not terminated
    Buffer.from([0, 3, 0]),
    Buffer.from([0, 4, 1]),
    Buffer.from([0, 5, 0]),
    Buffer.from([0, 7, 0, 0]),
    Buffer.from([1, 1, 0, 0]),
  ];
  for (const c of cases) {
    const r = parsePacket(c);
    t.false(r.ok, c.toString('hex'));
    if (!r.ok) t.true(r.reason.length > 0);
  }
});

test('DATA, ACK, ERROR, OACK round-trip', (t) => {
  const data = { op: OP_DATA, block: 65535, data: Buffer.from('hello') } as const;
  const d = parsePacket(serializePacket(data));
  t.true(d.ok && d.packet.op === OP_DATA && d.packet.block === 65535 && d.packet.data.toString() === 'hello');
  const a = parsePacket(serializePacket({ op: OP_ACK, block: 7 }));
  t.true(a.ok && a.packet.op === OP_ACK && a.packet.block === 7);
  const e = parsePacket(errorPacket(1, 'file not found'));
  t.true(e.ok && e.packet.op === OP_ERROR && e.packet.code === 1 && e.packet.message === 'file not found');
  t.deepEqual([...errorPacket(2, 'x')], [0, 5, 0, 2, 0x78, 0]);
  const oack = serializePacket({ op: OP_OACK, options: { blksize: '1468', tsize: '99' }, optionOrder: ['tsize', 'blksize'] });
  t.is(oack.toString('latin1'), '\0\x06tsize\x0099\0blksize\x001468\0');
  const o = parsePacket(oack);
  t.true(o.ok && o.packet.op === OP_OACK && o.packet.options['tsize'] === '99');
});

test('ACK fast path and padded ACKs', (t) => {
  t.is(ackBlockOf(Buffer.from([0, 4, 1, 2])), 258);
  t.is(ackBlockOf(Buffer.from([0, 4, 0xff, 0xff, 0, 0, 0])), 65535);
  t.is(ackBlockOf(Buffer.from([0, 3, 0, 1])), -1);
  t.is(ackBlockOf(Buffer.from([0, 4, 1])), -1);
  const padded = parsePacket(Buffer.from([0, 4, 0, 9, 0, 0]));
  t.true(padded.ok && padded.packet.op === OP_ACK && padded.packet.block === 9);
});

test('ERROR without terminator still parses (it ends the transfer either way)', (t) => {
  const r = parsePacket(bytes([0, 5, 0, 8], 'refused'));
  t.true(r.ok && r.packet.op === OP_ERROR && r.packet.code === 8 && r.packet.message === 'refused');
});

test('writeDataHeader writes opcode and the low 16 bits of the block number', (t) => {
  const b = Buffer.alloc(6, 0xaa);
  writeDataHeader(b, 1, 0x1_0002);
  t.deepEqual([...b], [0xaa, 0, 3, 0, 2, 0xaa]);
});

test('parser never throws on random bytes', (t) => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.alloc(Math.floor(rnd() * 40));
    for (let j = 0; j < b.length; j++) b[j] = rnd() < 0.3 ? 0 : Math.floor(rnd() * 256);
    if (b.length >= 2 && rnd() < 0.7) b[0] = 0, b[1] = Math.floor(rnd() * 8);
    t.notThrows(() => parsePacket(b));
  }
});
