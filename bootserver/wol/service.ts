// Wake-on-LAN for clients and groups: picks each client's target (its group's own broadcast or
// the server default), sends, and remembers the wake. A woken PC that does not read its boot
// config before the deadline is marked "did not wake" (client list/show, the event stream).
import { networkInterfaces } from 'node:os';
import type { Logger } from '../../lib/logger.ts';
import type { Config } from '../config/schema.ts';
import type { Client, Store, WakeRecord } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import { ConflictError } from '../service/netboot.ts';
import type { ClientNoticeBus } from '../service/event-bus.ts';
import { defaultWakeTarget } from './packet.ts';
import { sendMagicPacket, type MagicPacketSender } from './sender.ts';

export interface WakeServiceOptions {
  store: Store;
  config: Config;
  log: Logger;
  notices: ClientNoticeBus;
  /** The address clients reach us on (picks the default broadcast's interface). */
  serverIp: string | null;
  send?: MagicPacketSender;
  now?: () => Date;
}

export interface GroupWakeResult {
  woken: WakeRecord[];
  /** Clients that got no packet, and why (no MAC). */
  skipped: { clientId: string; reason: string }[];
}

export class WakeService {
  private readonly store: Store;
  private readonly config: Config;
  private readonly log: Logger;
  private readonly notices: ClientNoticeBus;
  private readonly send: MagicPacketSender;
  private readonly now: () => Date;
  readonly defaultBroadcast: string | null;
  /** Why there is no default broadcast (null when there is one). */
  readonly defaultProblem: string | null;
  readonly defaultPort: number;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<unknown> = Promise.resolve();

  constructor(options: WakeServiceOptions) {
    this.store = options.store;
    this.config = options.config;
    this.log = options.log;
    this.notices = options.notices;
    this.send = options.send ?? sendMagicPacket;
    this.now = options.now ?? (() => new Date());
    const fallback = options.config.wake.broadcast ? null : defaultWakeTarget(options.serverIp, networkInterfaces());
    this.defaultBroadcast = options.config.wake.broadcast ?? fallback?.broadcast ?? null;
    this.defaultProblem = fallback?.problem ?? null;
    // Said at start too: the admin may not wake anything for days.
    if (this.defaultProblem) this.log.warn(`no default Wake-on-LAN target: ${this.defaultProblem}`);
    this.defaultPort = options.config.wake.port;
  }

  /** Where this client's packet goes: its group's own target, else the server default. */
  async targetFor(client: Client): Promise<{ address: string; port: number }> {
    const own = client.group ? await this.store.getGroupWakeTarget(client.group) : null;
    if (own) return { address: own.broadcast, port: own.port };
    if (!this.defaultBroadcast) {
      throw new ConflictError(`no wake target for ${client.id}: ${this.defaultProblem ?? 'give its group one (netimage group wake-target <group> <broadcast>) or set wake.broadcast'}`);
    }
    return { address: this.defaultBroadcast, port: this.defaultPort };
  }

  async wakeClient(clientId: string, source: string): Promise<WakeRecord> {
    const client = await this.store.getClient(clientId);
    if (!client) throw new StoreNotFoundError(`client ${clientId} not found`);
    return this.wake(client, source);
  }

  async wakeGroup(groupId: string, source: string): Promise<GroupWakeResult> {
    if (!(await this.store.getGroup(groupId))) throw new StoreNotFoundError(`group ${groupId} not found`);
    const clients = await this.store.listClients({ group: groupId });
    if (clients.length === 0) throw new ConflictError(`group ${groupId} has no clients`);
    const result: GroupWakeResult = { woken: [], skipped: [] };
    for (const client of clients) {
      if (!client.mac) result.skipped.push({ clientId: client.id, reason: 'no MAC address (registered by SMBIOS UUID only)' });
      else result.woken.push(await this.wake(client, source));
    }
    return result;
  }

  private async wake(client: Client, source: string): Promise<WakeRecord> {
    if (!client.mac) throw new ConflictError(`client ${client.id} has no MAC address: Wake-on-LAN needs one`);
    const target = await this.targetFor(client);
    await this.send({ mac: client.mac, address: target.address, port: target.port });
    const sent = this.now();
    const record: WakeRecord = {
      clientId: client.id,
      status: 'waiting',
      source,
      address: `${target.address}:${target.port}`,
      sent: sent.toISOString(),
      deadline: new Date(sent.getTime() + this.config.wake.timeoutSeconds * 1000).toISOString(),
      updated: sent.toISOString(),
    };
    await this.store.putWakeRecord(record);
    this.log.info({ client: client.id, mac: client.mac, to: record.address, source }, 'sent wake-on-lan packet');
    return record;
  }

  /** Adds each client's latest wake (or null) to its view: "did not wake" shows in client list/show. */
  async withWakeStatus<T extends { id: string }>(clients: T[]): Promise<(T & { wake: WakeRecord | null })[]> {
    const records = new Map((await this.store.listWakeRecords()).map((r) => [r.clientId, r]));
    return clients.map((c) => ({ ...c, wake: records.get(c.id) ?? null }));
  }

  /** The client read its boot config: a pending wake worked (late ones too: the PC is up). */
  async clientSeen(clientId: string): Promise<void> {
    const record = await this.store.getWakeRecord(clientId);
    if (!record || record.status === 'woke') return;
    await this.setStatus(record, 'woke', `${clientId} is up (boot config read after wake)`);
  }

  /** Mark every waiting wake whose deadline has passed; returns the ones marked. */
  async checkDeadlines(): Promise<WakeRecord[]> {
    const now = this.now().getTime();
    const overdue = (await this.store.listWakeRecords({ status: 'waiting' })).filter((r) => Date.parse(r.deadline) <= now);
    const marked: WakeRecord[] = [];
    for (const record of overdue) {
      marked.push(await this.setStatus(record, 'did_not_wake', `${record.clientId} did not wake: no boot config read within ${this.config.wake.timeoutSeconds} s of the packet to ${record.address}`));
    }
    return marked;
  }

  private async setStatus(record: WakeRecord, status: WakeRecord['status'], message: string): Promise<WakeRecord> {
    const ts = this.now().toISOString();
    const next = { ...record, status, updated: ts };
    await this.store.putWakeRecord(next);
    this.notices.publish({ type: 'wake', clientId: record.clientId, status, message, ts });
    if (status === 'did_not_wake') this.log.warn({ client: record.clientId, to: record.address }, message);
    return next;
  }

  /** Check deadlines periodically (a quarter of the timeout, between 250 ms and 5 s). */
  start(): void {
    if (this.timer) return;
    const every = Math.min(5000, Math.max(250, (this.config.wake.timeoutSeconds * 1000) / 4));
    this.timer = setInterval(() => {
      this.checking = this.checkDeadlines().catch((error: unknown) => this.log.error({ err: error }, 'wake deadline check failed'));
    }, every);
    this.timer.unref();
  }

  /** Stop checking; waits for a check under way (the store closes next). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checking;
  }
}
