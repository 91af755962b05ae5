// Test helper run inside a network namespace: sends one magic packet with the real sender.
import { sendMagicPacket } from '../../bootserver/wol/sender.ts';

await sendMagicPacket({ mac: process.argv[2]!, address: process.argv[3]!, port: Number(process.argv[4]) });
