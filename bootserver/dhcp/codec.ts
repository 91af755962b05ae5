// BOOTP/DHCP wire codec (RFC 951, 2131, 2132, 3396, 4578). Pure: bytes in, values out and back.
// Parsing never throws: a malformed packet yields { ok: false, reason } so a socket handler can
// log and drop it without a try/catch around every field.

/** Option codes this server reads or writes. Names follow RFC 2132 / 4578. */
export const Opt = {
  pad: 0,
  subnetMask: 1,
  router: 3,
  dnsServers: 6,
  hostname: 12,
  broadcastAddress: 28,
  vendorSpecific: 43,
  requestedIp: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  maxMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  vendorClass: 60,
  clientId: 61,
  tftpServerName: 66,
  bootfileName: 67,
  userClass: 77,
  clientArch: 93,
  clientNdi: 94,
  clientUuid: 97,
  ipxeEncap: 175,
  end: 255,
} as const;

export const MessageType = {
  discover: 1,
  offer: 2,
  request: 3,
  decline: 4,
  ack: 5,
  nak: 6,
  release: 7,
  inform: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

const MESSAGE_TYPE_NAMES: Record<number, MessageTypeName> = Object.fromEntries(
  Object.entries(MessageType).map(([name, code]) => [code, name as MessageTypeName]),
);

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP header up to (not including) the magic cookie. */
const HEADER_LENGTH = 236;
/** RFC 951's 64-byte vendor area makes 300 bytes; some relays and old clients drop shorter packets. */
export const MIN_PACKET_LENGTH = 300;
const SNAME_OFFSET = 44;
const SNAME_LENGTH = 64;
const FILE_OFFSET = 108;
const FILE_LENGTH = 128;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the chaddr field; the first `hlen` are the hardware address. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /**
   * Options in wire order. Repeated codes are concatenated (RFC 3396), and options carried in the
   * overloaded sname/file fields are merged here, so callers never see option 52 mechanics.
   * A BOOTP packet without the magic cookie has `dhcp: false` and no options.
   */
  options: Map<number, Buffer>;
  dhcp: boolean;
}

export type ParseResult = { ok: true; packet: DhcpPacket } | { ok: false; reason: string };


// ---------------------------------------------------------------------------------------------
// Addresses

export function ipToString(buf: Buffer, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** Dotted quad -> unsigned 32-bit number, or undefined if it is not one. Hand-rolled: hot path. */
export function ipToNumber(ip: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

export function numberToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function ipBytes(ip: string): Buffer {
  const b = Buffer.alloc(4);
  writeIp(b, 0, ip);
  return b;
}

export function macOf(p: DhcpPacket): string {
  return p.chaddr.toString('hex', 0, Math.min(p.hlen, 16)).replace(/(..)(?!$)/g, '$1:');
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Walk one option area (RFC 2132 TLV with pad/end). Returns a reason string on truncation. */
function readOptionArea(area: Buffer, where: string, into: Map<number, Buffer>, order: number[]): string | undefined {
  let i = 0;
  while (i < area.length) {
    const code = area[i]!;
    if (code === Opt.pad) {
      i++;
      continue;
    }
    if (code === Opt.end) return undefined;
    if (i + 1 >= area.length) return `option ${code} in ${where} has no length byte`;
    const len = area[i + 1]!;
    if (i + 2 + len > area.length) return `option ${code} in ${where} runs past the end (${len} bytes declared)`;
    const value = area.subarray(i + 2, i + 2 + len);
    const previous = into.get(code);
    // RFC 3396: a long option may be split into several instances that are concatenated.
    into.set(code, previous ? Buffer.concat([previous, value]) : value);
    if (!previous) order.push(code);
    i += 2 + len;
  }
  // No end option: RFC 2131 requires one, but firmware in the field sometimes omits it after the
  // last option; accepting the area as complete is what the reference servers do.
  return undefined;
}

function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul === -1 ? buf.length : nul).toString('latin1');
}

/** Values in the result are views into `data` (no copies: hot path); do not reuse `data` afterwards. */
export function parseDhcp(data: Buffer): ParseResult {
  if (data.length < HEADER_LENGTH) return { ok: false, reason: `too short for BOOTP (${data.length} bytes)` };
  const op = data[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { ok: false, reason: `bad op ${op}` };
  const hlen = data[2]!;
  if (hlen > 16) return { ok: false, reason: `hardware address length ${hlen} > 16` };
  const packet: DhcpPacket = {
    op,
    htype: data[1]!,
    hlen,
    hops: data[3]!,
    xid: data.readUInt32BE(4),
    secs: data.readUInt16BE(8),
    flags: data.readUInt16BE(10),
    ciaddr: ipToString(data, 12),
    yiaddr: ipToString(data, 16),
    siaddr: ipToString(data, 20),
    giaddr: ipToString(data, 24),
    chaddr: data.subarray(28, 44),
    sname: '',
    file: '',
    options: new Map(),
    dhcp: false,
  };
  const snameField = data.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH);
  const fileField = data.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH);
  if (data.length < HEADER_LENGTH + 4 || data.readUInt32BE(HEADER_LENGTH) !== MAGIC_COOKIE) {
    // Plain BOOTP (or garbage where the cookie should be): header only.
    packet.sname = cString(snameField);
    packet.file = cString(fileField);
    return { ok: true, packet };
  }
  packet.dhcp = true;
  const order: number[] = [];
  const options = new Map<number, Buffer>();
  let reason = readOptionArea(data.subarray(HEADER_LENGTH + 4), 'options', options, order);
  if (reason) return { ok: false, reason };
  const overload = options.get(Opt.overload);
  let overloadValue = 0;
  if (overload) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) {
      return { ok: false, reason: `bad option overload value ${overload.toString('hex')}` };
    }
    overloadValue = overload[0]!;
    // RFC 2131 4.1: options field first, then file, then sname.
    if (overloadValue & 1) reason = readOptionArea(fileField, 'file', options, order);
    if (!reason && overloadValue & 2) reason = readOptionArea(snameField, 'sname', options, order);
    if (reason) return { ok: false, reason };
    options.delete(Opt.overload);
    order.splice(order.indexOf(Opt.overload), 1);
  }
  packet.file = overloadValue & 1 ? '' : cString(fileField);
  packet.sname = overloadValue & 2 ? '' : cString(snameField);
  for (const code of order) packet.options.set(code, options.get(code)!);
  const type = packet.options.get(Opt.messageType);
  if (type && (type.length !== 1 || !(type[0]! in MESSAGE_TYPE_NAMES))) {
    return { ok: false, reason: `bad message type option ${type.toString('hex')}` };
  }
  return { ok: true, packet };
}

// ---------------------------------------------------------------------------------------------
// Serializing

/** Bytes the option area takes on the wire (RFC 3396 splits values over 255 bytes), end included. */
function encodedOptionsLength(options: Map<number, Buffer>): number {
  let length = 1;
  for (const [code, value] of options) {
    if (code === Opt.pad || code === Opt.end) continue;
    const len = value.length;
    length += len === 0 ? 2 : len + 2 * Math.ceil(len / 255);
  }
  return length;
}

function writeOption(out: Buffer, at: number, code: number, value: Buffer): number {
  let from = 0;
  do {
    const len = Math.min(255, value.length - from);
    out[at] = code;
    out[at + 1] = len;
    value.copy(out, at + 2, from, from + len);
    at += 2 + len;
    from += 255;
  } while (from < value.length);
  return at;
}

function writeIp(target: Buffer, offset: number, ip: string): void {
  const n = ipToNumber(ip);
  if (n === undefined) throw new TypeError(`not an IPv4 address: ${ip}`);
  target.writeUInt32BE(n, offset);
}

function writeCString(target: Buffer, offset: number, length: number, value: string): void {
  // Leave room for the terminating NUL.
  if (value) target.write(value.slice(0, length - 1), offset, length - 1, 'latin1');
}

/** Serialize; never uses option overload on output, pads to 300 bytes. One allocation. */
export function serializeDhcp(p: DhcpPacket): Buffer {
  const body = p.dhcp ? HEADER_LENGTH + 4 + encodedOptionsLength(p.options) : HEADER_LENGTH;
  const out = Buffer.alloc(Math.max(body, MIN_PACKET_LENGTH));
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid >>> 0, 4);
  out.writeUInt16BE(p.secs & 0xffff, 8);
  out.writeUInt16BE(p.flags & 0xffff, 10);
  writeIp(out, 12, p.ciaddr);
  writeIp(out, 16, p.yiaddr);
  writeIp(out, 20, p.siaddr);
  writeIp(out, 24, p.giaddr);
  p.chaddr.copy(out, 28, 0, Math.min(16, p.chaddr.length));
  writeCString(out, SNAME_OFFSET, SNAME_LENGTH, p.sname);
  writeCString(out, FILE_OFFSET, FILE_LENGTH, p.file);
  if (!p.dhcp) return out;
  out.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  let at = HEADER_LENGTH + 4;
  // Message type first: some PXE ROMs only look at the first option to classify a reply.
  const type = p.options.get(Opt.messageType);
  if (type) at = writeOption(out, at, Opt.messageType, type);
  for (const [code, value] of p.options) {
    if (code !== Opt.messageType && code !== Opt.pad && code !== Opt.end) at = writeOption(out, at, code, value);
  }
  out[at] = Opt.end;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Option value encoders

export const encode = {
  u8: (n: number) => Buffer.from([n & 255]),
  u16: (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n & 0xffff);
    return b;
  },
  u32: (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  },
  ip: (ip: string) => ipBytes(ip),
  ips: (ips: readonly string[]) => Buffer.concat(ips.map(ipBytes)),
  text: (s: string) => Buffer.from(s, 'latin1'),
};

// ---------------------------------------------------------------------------------------------
// Typed accessors. Each returns undefined when the option is absent or its value is malformed.

export function messageType(p: DhcpPacket): MessageTypeName | undefined {
  const v = p.options.get(Opt.messageType);
  return v && v.length === 1 ? MESSAGE_TYPE_NAMES[v[0]!] : undefined;
}

function ipOption(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? ipToString(v) : undefined;
}

function textOption(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  if (!v) return undefined;
  // Some clients NUL-terminate strings; the terminator is not part of the value.
  return cString(v);
}

export const serverId = (p: DhcpPacket) => ipOption(p, Opt.serverId);
export const requestedIp = (p: DhcpPacket) => ipOption(p, Opt.requestedIp);
export const vendorClass = (p: DhcpPacket) => textOption(p, Opt.vendorClass);
export const tftpServerName = (p: DhcpPacket) => textOption(p, Opt.tftpServerName);
export const bootfileName = (p: DhcpPacket) => textOption(p, Opt.bootfileName);
export const hostname = (p: DhcpPacket) => textOption(p, Opt.hostname);

export function parameterRequestList(p: DhcpPacket): number[] | undefined {
  const v = p.options.get(Opt.parameterRequestList);
  return v ? [...v] : undefined;
}

export function leaseTime(p: DhcpPacket): number | undefined {
  const v = p.options.get(Opt.leaseTime);
  return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
}

/** Option 61 as lowercase hex (type byte included), the stable key RFC 2131 says to use. */
export function clientIdHex(p: DhcpPacket): string | undefined {
  const v = p.options.get(Opt.clientId);
  return v && v.length >= 2 ? v.toString('hex') : undefined;
}

/** Option 93 (RFC 4578): list of 16-bit architecture types, first is preferred. */
export function clientArchitectures(p: DhcpPacket): number[] | undefined {
  const v = p.options.get(Opt.clientArch);
  if (!v || v.length < 2 || v.length % 2 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** Option 94 (RFC 4578): network interface identifier; type 1 = UNDI. */
export function clientNdi(p: DhcpPacket): ClientNdi | undefined {
  const v = p.options.get(Opt.clientNdi);
  return v && v.length === 3 ? { type: v[0]!, major: v[1]!, minor: v[2]! } : undefined;
}

/**
 * Option 97 (RFC 4578): type 0 + 16-byte GUID. PXE firmware sends the SMBIOS UUID with its first
 * three fields little-endian (as stored in SMBIOS), so they are swapped back to get the canonical
 * string that Linux' product_uuid and Grub's `smbios --get-uuid` show.
 */
export function clientUuid(p: DhcpPacket): string | undefined {
  const v = p.options.get(Opt.clientUuid);
  if (!v || v.length !== 17 || v[0] !== 0) return undefined;
  return uuidFromWire(v.subarray(1));
}

export function uuidFromWire(g: Buffer): string {
  const swapped = Buffer.concat([
    Buffer.from(g.subarray(0, 4)).reverse(),
    Buffer.from(g.subarray(4, 6)).reverse(),
    Buffer.from(g.subarray(6, 8)).reverse(),
    g.subarray(8, 16),
  ]);
  const h = swapped.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Inverse of uuidFromWire: canonical string -> the 16 bytes firmware puts on the wire. */
export function uuidToWire(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a UUID: ${uuid}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8, 16),
  ]);
}

/**
 * Sub-options in an encapsulated option (43 PXE vendor options, 175 iPXE): TLV with pad/end.
 * Returns undefined if the value is not well-formed TLV (43 is free-form for non-PXE vendors).
 */
export function parseSubOptions(v: Buffer): Map<number, Buffer> | undefined {
  const out = new Map<number, Buffer>();
  const reason = readOptionArea(v, 'encapsulated option', out, []);
  return reason ? undefined : out;
}

export function encodeSubOptions(sub: Map<number, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of sub) {
    if (value.length > 255) throw new RangeError(`sub-option ${code} longer than 255 bytes`);
    parts.push(Buffer.from([code, value.length]), value);
  }
  parts.push(Buffer.from([Opt.end]));
  return Buffer.concat(parts);
}

/** PXE vendor sub-options (PXE 2.1 spec): 6 discovery control, 8 boot servers, 9 menu, 10 prompt, 71 boot item. */
export const PxeSub = {
  discoveryControl: 6,
  bootServers: 8,
  bootMenu: 9,
  menuPrompt: 10,
  bootItem: 71,
} as const;

export function pxeVendorOptions(p: DhcpPacket): Map<number, Buffer> | undefined {
  const v = p.options.get(Opt.vendorSpecific);
  return v ? parseSubOptions(v) : undefined;
}

export function ipxeOptions(p: DhcpPacket): Map<number, Buffer> | undefined {
  const v = p.options.get(Opt.ipxeEncap);
  return v ? parseSubOptions(v) : undefined;
}

/** Option 77. iPXE sends the bare string "iPXE" rather than RFC 3004's length-prefixed list. */
export const userClass = (p: DhcpPacket) => textOption(p, Opt.userClass);

/** iPXE identifies itself by user class "iPXE" and/or its encapsulated option 175. */
export function isIpxe(p: DhcpPacket): boolean {
  return userClass(p) === 'iPXE' || p.options.has(Opt.ipxeEncap);
}

// ---------------------------------------------------------------------------------------------
// Building replies

/** A reply skeleton to `request`: same xid, flags, giaddr and chaddr; everything else empty. */
export function replyTo(request: DhcpPacket): DhcpPacket {
  return {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: '',
    file: '',
    options: new Map(),
    dhcp: true,
  };
}

/** Transaction id as 8 hex digits, the form tcpdump and dnsmasq logs use. */
export const xidHex = (p: DhcpPacket) => p.xid.toString(16).padStart(8, '0');
