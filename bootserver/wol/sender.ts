// Sends one magic packet over UDP. Kept narrow (one socket, one datagram) so everything that
// decides what to wake stays testable without sending.
import { createSocket } from 'node:dgram';
import { magicPacket } from './packet.ts';

export interface MagicPacketTarget {
  mac: string;
  /** Broadcast (or unicast) IPv4 address. */
  address: string;
  port: number;
}

export type MagicPacketSender = (target: MagicPacketTarget) => Promise<void>;

export const sendMagicPacket: MagicPacketSender = (target) => {
  const packet = magicPacket(target.mac);
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const fail = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once('error', fail);
    socket.bind(0, () => {
      // Without SO_BROADCAST the kernel refuses a send to a broadcast address (EACCES).
      socket.setBroadcast(true);
      socket.send(packet, target.port, target.address, (error) => {
        socket.close();
        if (error) reject(error);
        else resolve();
      });
    });
  });
};
