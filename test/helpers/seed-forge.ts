// A forged datagram on a seeding lab's network (test/imaging/seed-room.test.ts): the first fragment
// of piece 0 with wrong bytes, sent to the group from source port SPORT, so a receiver that takes it
// assembles a piece that fails its sha256 (what a corrupted datagram does). PCs that must not see
// it drop that source port with iptables. Prints {"event":"forged"} and exits.
//   node test/helpers/seed-forge.ts MANIFEST.json GROUP PORT LOCAL SPORT
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { parseManifest, piecesOf, sessionOf } from '../../lib/seed/manifest.ts';
import { encodePacket, FRAGMENT_BYTES, PacketType } from '../../lib/seed/wire.ts';

const [manifestPath, group, port, local, sport] = process.argv.slice(2) as [string, string, string, string, string];
const manifest = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
const pieces = piecesOf(manifest);
const socket = createSocket('udp4');
await new Promise<void>((resolve) => socket.bind(Number(sport), local, resolve));
socket.setMulticastInterface(local);
socket.setMulticastTTL(1);
const packet = encodePacket({ type: PacketType.Data, session: sessionOf(manifest), piece: 0, offset: 0, pieceLength: pieces[0]!.length, pieces: pieces.length }, Buffer.alloc(Math.min(FRAGMENT_BYTES, pieces[0]!.length), 0x5a));
// A few copies: the first to arrive is taken, the receiver ignores the rest (and the real one).
for (let i = 0; i < 3; i++) await new Promise<void>((resolve, reject) => socket.send(packet, Number(port), group, (e) => (e ? reject(e) : resolve())));
socket.close();
process.stdout.write(JSON.stringify({ event: 'forged' }) + '\n');
