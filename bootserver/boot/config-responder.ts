// Answers Grub's config requests, whichever protocol carried them (TFTP or HTTP):
//   grub/grub.cfg                                          the shared top-level config
//   grub/client/<efi|pc>/mac-<mac>/uuid-<uuid>.cfg         this client's config (netboot or local)
// Reading a client config is what creates or continues a job attempt.
import type { Logger } from '../../lib/logger.ts';
import type { Config } from '../config/schema.ts';
import type { NetbootService } from '../service/netboot.ts';
import type { BootRequest } from './decide.ts';
import type { GrubRenderer } from './grub-render.ts';

const CLIENT_PATH = /^grub\/client\/(efi|pc)\/mac-([0-9a-fA-F:]*)\/uuid-([0-9a-fA-F-]*)\.cfg$/;

/** Parse a client config path; null when it is not one. Pure. */
export function parseClientConfigPath(path: string): BootRequest | null {
  const m = CLIENT_PATH.exec(path.replace(/^\/+/, ''));
  if (!m) return null;
  const mac = m[2]!.toLowerCase();
  const uuid = m[3]!.toLowerCase();
  return {
    firmware: m[1] === 'efi' ? 'uefi' : 'bios',
    mac: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) ? mac : null,
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid) && !/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(uuid) ? uuid : null,
  };
}

export class BootConfigResponder {
  private readonly service: NetbootService;
  private readonly renderer: GrubRenderer;
  private readonly config: Config;
  private readonly log: Logger;
  /** Told about every known client that reads its config (Wake-on-LAN marks it awake). */
  private readonly onClientConfigRead: ((clientId: string) => Promise<void>) | undefined;

  constructor(options: { service: NetbootService; renderer: GrubRenderer; config: Config; log: Logger; onClientConfigRead?: (clientId: string) => Promise<void> }) {
    this.service = options.service;
    this.renderer = options.renderer;
    this.config = options.config;
    this.log = options.log;
    this.onClientConfigRead = options.onClientConfigRead;
  }

  /** The config text for a requested path, or null when the path is not a Grub config we make. */
  async respond(path: string, remote: { address: string }): Promise<string | null> {
    const clean = path.replace(/^\/+/, '');
    if (clean === 'grub/grub.cfg') return this.renderer.renderTopLevel();
    const request = parseClientConfigPath(clean);
    if (!request) return null;
    const outcome = await this.service.bootConfigRead(request);
    if (outcome.client && this.onClientConfigRead) {
      const id = outcome.client.id;
      // Never let a side concern fail or delay the boot answer.
      this.onClientConfigRead(id).catch((error: unknown) => this.log.error({ err: error, client: id }, 'config-read observer failed'));
    }
    const label = outcome.client?.id ?? `unknown client ${request.mac ?? request.uuid ?? ''}`.trim();
    if (outcome.decision.kind === 'local' || !outcome.job || !outcome.token) {
      this.log.info({ client: outcome.client?.id ?? null, mac: request.mac, uuid: request.uuid, remote: remote.address, reason: outcome.decision.reason }, 'local boot');
      return this.renderer.renderLocal({ firmware: request.firmware, clientLabel: label, reason: outcome.decision.reason, target: outcome.localTarget });
    }
    const job = outcome.job;
    this.log.info({ client: job.clientId, product: job.productId, job: job.id, attempt: job.attempt, matchedBy: outcome.matchedBy, remote: remote.address }, 'netboot config read');
    return this.renderer.renderNetboot({
      clientId: job.clientId,
      productId: job.productId,
      jobId: job.id,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      token: outcome.token,
      mac: request.mac ?? outcome.client?.mac ?? null,
      serverIp: this.config.advertisedIp,
      httpPort: this.config.http.port,
      transport: this.config.boot.kernelTransport,
      initrd: this.config.boot.initrd,
      debug: this.config.boot.debug,
      serialConsole: this.config.boot.serialConsole,
      extraKernelArgs: this.config.boot.extraKernelArgs,
    });
  }
}
