// Test helper run inside a network namespace: prints "ready", then one JSON line per UDP
// datagram received on the given port (hex payload and sender).
import { createSocket } from 'node:dgram';

const port = Number(process.argv[2]);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
socket.on('message', (data, rinfo) => process.stdout.write(JSON.stringify({ hex: data.toString('hex'), from: rinfo.address }) + '\n'));
socket.bind(port, '0.0.0.0', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
