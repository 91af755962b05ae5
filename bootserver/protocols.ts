// Starts the UDP protocol adapters (TFTP, DHCP) next to HTTP. Each asks the same responder.
import type { Logger } from '../lib/logger.ts';
import type { Config } from './config/schema.ts';
import type { BootConfigResponder } from './boot/config-responder.ts';

export interface ProtocolServers {
  tftpPort: number | null;
  dhcp: boolean;
  stop(): Promise<void>;
}

export async function startProtocolServers(_options: { config: Config; responder: BootConfigResponder; log: Logger }): Promise<ProtocolServers> {
  // TFTP and DHCP adapters are wired in here as they land (bootserver/tftp, bootserver/dhcp).
  return { tftpPort: null, dhcp: false, stop: async () => undefined };
}
