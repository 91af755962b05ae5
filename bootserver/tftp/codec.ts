// TFTP wire codec (RFC 1350, options per RFC 2347). Pure: bytes in, values out, never throws on
// input from the network. Malformed packets come back as { ok: false, reason } so the socket
// handler can drop them (or answer with an ERROR) without try/catch around parsing.

export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_DATA = 3;
export const OP_ACK = 4;
export const OP_ERROR = 5;
export const OP_OACK = 6;

/** RFC 1350 / 2347 error codes. */
export const TFTP_ERROR = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTransferId: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionRefused: 8,
} as const;

/** Options as sent: names lowercased (RFC 2347 says case-insensitive), values as strings. */
export type TftpOptions = Record<string, string>;

export interface RequestPacket {
  op: typeof OP_RRQ | typeof OP_WRQ;
  /** Raw file name as latin1 (one char per byte, lossless); validate with paths.ts before use. */
  filename: string;
  /** Lowercased transfer mode ("octet", "netascii", "mail"). */
  mode: string;
  options: TftpOptions;
  /** Option names in the order the client sent them (OACK echoes in this order). */
  optionOrder: string[];
}

export interface DataPacket {
  op: typeof OP_DATA;
  block: number;
  data: Buffer;
}

export interface AckPacket {
  op: typeof OP_ACK;
  block: number;
}

export interface ErrorPacket {
  op: typeof OP_ERROR;
  code: number;
  message: string;
}

export interface OackPacket {
  op: typeof OP_OACK;
  options: TftpOptions;
  optionOrder: string[];
}

export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type ParseResult = { ok: true; packet: TftpPacket } | { ok: false; reason: string };

/** Split NUL-terminated strings from `start`; null when the last one is not terminated. */
function splitStrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = [];
  let from = start;
  while (from < buf.length) {
    const end = buf.indexOf(0, from);
    if (end < 0) return null;
    out.push(buf.toString('latin1', from, end));
    from = end + 1;
  }
  return out;
}

/**
 * Options from name/value string pairs. Per RFC 2347 a server ignores what it does not understand,
 * so a dangling name without value, empty names and repeated names (first wins) are dropped
 * instead of failing the request.
 */
function parseOptions(parts: readonly string[]): { options: TftpOptions; order: string[] } {
  const options: TftpOptions = Object.create(null) as TftpOptions;
  const order: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const name = (parts[i] ?? '').toLowerCase();
    const value = parts[i + 1] ?? '';
    if (name.length === 0 || name in options) continue;
    options[name] = value;
    order.push(name);
  }
  return { options, order };
}

export function parsePacket(buf: Buffer): ParseResult {
  if (buf.length < 2) return { ok: false, reason: 'shorter than an opcode' };
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP_RRQ:
    case OP_WRQ: {
      const parts = splitStrings(buf, 2);
      if (parts === null) return { ok: false, reason: 'request string not NUL-terminated' };
      if (parts.length < 2) return { ok: false, reason: 'request without filename and mode' };
      const filename = parts[0] ?? '';
      const mode = (parts[1] ?? '').toLowerCase();
      if (filename.length === 0) return { ok: false, reason: 'empty filename' };
      if (mode.length === 0) return { ok: false, reason: 'empty mode' };
      const { options, order } = parseOptions(parts.slice(2));
      return { ok: true, packet: { op, filename, mode, options, optionOrder: order } };
    }
    case OP_DATA:
      if (buf.length < 4) return { ok: false, reason: 'DATA shorter than 4 bytes' };
      return { ok: true, packet: { op, block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case OP_ACK:
      // Some clients pad ACKs; the block number is all that matters.
      if (buf.length < 4) return { ok: false, reason: 'ACK shorter than 4 bytes' };
      return { ok: true, packet: { op, block: buf.readUInt16BE(2) } };
    case OP_ERROR: {
      if (buf.length < 4) return { ok: false, reason: 'ERROR shorter than 4 bytes' };
      const end = buf.indexOf(0, 4);
      // A missing terminator is tolerated: the error ends the transfer either way.
      const message = buf.toString('latin1', 4, end < 0 ? buf.length : end);
      return { ok: true, packet: { op, code: buf.readUInt16BE(2), message } };
    }
    case OP_OACK: {
      const parts = splitStrings(buf, 2);
      if (parts === null) return { ok: false, reason: 'OACK string not NUL-terminated' };
      const { options, order } = parseOptions(parts);
      return { ok: true, packet: { op, options, optionOrder: order } };
    }
    default:
      return { ok: false, reason: `unknown opcode ${op}` };
  }
}

/** Fast path for transfer sockets: the block number of an ACK, or -1 for anything else. */
export function ackBlockOf(buf: Buffer): number {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== OP_ACK) return -1;
  return buf.readUInt16BE(2);
}

function stringsBuffer(op: number, strings: readonly string[]): Buffer {
  let len = 2;
  for (const s of strings) len += Buffer.byteLength(s, 'latin1') + 1;
  const out = Buffer.alloc(len);
  out.writeUInt16BE(op, 0);
  let at = 2;
  for (const s of strings) {
    at += out.write(s, at, 'latin1');
    out[at++] = 0;
  }
  return out;
}

function optionStrings(options: TftpOptions, order?: readonly string[]): string[] {
  const names = order ?? Object.keys(options);
  const out: string[] = [];
  for (const name of names) {
    const value = options[name];
    if (value !== undefined) out.push(name, value);
  }
  return out;
}

export function serializePacket(packet: TftpPacket): Buffer {
  switch (packet.op) {
    case OP_RRQ:
    case OP_WRQ:
      return stringsBuffer(packet.op, [packet.filename, packet.mode, ...optionStrings(packet.options, packet.optionOrder)]);
    case OP_DATA: {
      const out = Buffer.allocUnsafe(4 + packet.data.length);
      out.writeUInt16BE(OP_DATA, 0);
      out.writeUInt16BE(packet.block & 0xffff, 2);
      packet.data.copy(out, 4);
      return out;
    }
    case OP_ACK: {
      const out = Buffer.alloc(4);
      out.writeUInt16BE(OP_ACK, 0);
      out.writeUInt16BE(packet.block & 0xffff, 2);
      return out;
    }
    case OP_ERROR: {
      const msgLen = Buffer.byteLength(packet.message, 'latin1');
      const out = Buffer.alloc(5 + msgLen);
      out.writeUInt16BE(OP_ERROR, 0);
      out.writeUInt16BE(packet.code & 0xffff, 2);
      out.write(packet.message, 4, 'latin1');
      return out;
    }
    case OP_OACK:
      return stringsBuffer(OP_OACK, optionStrings(packet.options, packet.optionOrder));
  }
}

export function errorPacket(code: number, message: string): Buffer {
  return serializePacket({ op: OP_ERROR, code, message });
}

/** Write a DATA header in place (the transfer keeps 4 spare bytes before every block). */
export function writeDataHeader(target: Buffer, offset: number, block: number): void {
  target[offset] = 0;
  target[offset + 1] = OP_DATA;
  target[offset + 2] = (block >>> 8) & 0xff;
  target[offset + 3] = block & 0xff;
}
