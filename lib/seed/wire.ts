// The datagrams of a seeding stream. Pure.
// Header (big-endian, 28 bytes): magic "NISD", version 1, type, 2 reserved, session (sessionOf the
// manifest), piece index, byte offset in the piece, piece length, piece count; then the bytes.
// DATA carries a fragment of a piece, END says the sender has sent every piece, HELLO (before the
// data, while the room joins) says the stream is coming: none of the last two has bytes.
// Fragments fit one Ethernet frame (1500 MTU − 28 IP/UDP − 28 header ≥ FRAGMENT_BYTES).
export const MAGIC = 0x4e495344; // "NISD"
export const VERSION = 1;
export const HEADER_BYTES = 28;
export const FRAGMENT_BYTES = 1400;
export const PacketType = { Data: 1, End: 2, Hello: 3 } as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export interface Packet {
  type: PacketType;
  session: number;
  piece: number;
  offset: number;
  pieceLength: number;
  pieces: number;
  data: Buffer;
}

export function encodePacket(p: Omit<Packet, 'data'>, data?: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + (data?.length ?? 0));
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt8(VERSION, 4);
  b.writeUInt8(p.type, 5);
  b.writeUInt16BE(0, 6);
  b.writeUInt32BE(p.session, 8);
  b.writeUInt32BE(p.piece, 12);
  b.writeUInt32BE(p.offset, 16);
  b.writeUInt32BE(p.pieceLength, 20);
  b.writeUInt32BE(p.pieces, 24);
  if (data) b.set(data, HEADER_BYTES);
  return b;
}

/** The packet, or null for anything that is not a well-formed packet of this version. */
export function decodePacket(b: Buffer): Packet | null {
  if (b.length < HEADER_BYTES || b.readUInt32BE(0) !== MAGIC || b.readUInt8(4) !== VERSION) return null;
  const type = b.readUInt8(5);
  if (type !== PacketType.Data && type !== PacketType.End && type !== PacketType.Hello) return null;
  const p: Packet = {
    type,
    session: b.readUInt32BE(8),
    piece: b.readUInt32BE(12),
    offset: b.readUInt32BE(16),
    pieceLength: b.readUInt32BE(20),
    pieces: b.readUInt32BE(24),
    data: b.subarray(HEADER_BYTES),
  };
  if (type === PacketType.Data && (p.data.length === 0 || p.offset + p.data.length > p.pieceLength)) return null;
  return p;
}

/**
 * Byte ranges [start, end) of a piece whose fragments did not arrive (got[f] = 0), with runs less
 * than `mergeGap` fragments apart joined: one HTTP request per run, a few surplus bytes instead
 * of many tiny requests. Pure.
 */
export function missingRanges(got: Uint8Array, pieceLength: number, mergeGap = 4): [number, number][] {
  const out: [number, number][] = [];
  for (let f = 0; f < got.length; f++) {
    if (got[f]) continue;
    const start = f * FRAGMENT_BYTES;
    const end = Math.min(pieceLength, (f + 1) * FRAGMENT_BYTES);
    const last = out[out.length - 1];
    if (last && start - last[1] < mergeGap * FRAGMENT_BYTES) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}
