// Domain records and the one Store interface. The embedded backend is SQLite (node:sqlite);
// the interface is async so a PostgreSQL backend can sit behind it for multi-server sites.
import type { ActionRequest, BackupImageReport, PropertyValue } from '../../lib/agent-protocol.ts';
import { NetimageError } from '../../lib/errors.ts';

export type InstallationStatus = 'installed' | 'not_installed' | 'unknown';
export type ActionResult = 'failed' | 'successful' | 'none';

export interface Client {
  /** Host id (hostname or FQDN), as opsi's host id. */
  id: string;
  mac: string | null;
  uuid: string | null;
  group: string | null;
  description: string;
  notes: string;
  inventory: unknown | null;
  created: string;
  modified: string;
  /** When a bootserver last read this client's boot config, and that server's site (null: never). */
  lastSeen?: string | null;
  lastSeenSite?: string | null;
}

/** An image on a client's backup partition, as its agent last reported it (service/client-images.ts). */
export interface ClientImage extends BackupImageReport {
  clientId: string;
  /** When the agent reported it. */
  reported: string;
}

export interface Group {
  id: string;
  description: string;
}

export interface PropertyDefinition {
  name: string;
  type: 'unicode' | 'bool';
  description: string;
  default: PropertyValue;
  /** Allowed values for unicode properties (when editable is false, only these). */
  choices: string[];
  editable: boolean;
  multiValue: boolean;
  /** Set by the agent only (e.g. free_on_backup). */
  readOnly: boolean;
}

export interface ProductDefinition {
  id: string;
  version: string;
  name: string;
  description: string;
  /** Higher runs first when several netboot actions are pending for one client. */
  priority: number;
  /** Writes to the client's disk: only ever run for an explicitly pending action. */
  destructive: boolean;
  properties: PropertyDefinition[];
}

export interface ProductOnClient {
  clientId: string;
  productId: string;
  actionRequest: ActionRequest;
  installationStatus: InstallationStatus;
  actionResult: ActionResult;
  actionProgress: string;
  lastAction: ActionRequest;
  productVersion: string | null;
  modified: string;
}

export type JobState = 'booting' | 'running' | 'succeeded' | 'failed' | 'exhausted' | 'cancelled';

export interface Job {
  id: string;
  clientId: string;
  productId: string;
  actionRequest: ActionRequest;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  tokenHash: string | null;
  percent: number | null;
  error: string | null;
  created: string;
  updated: string;
  /** When the current attempt's boot config was read. */
  attemptStarted: string | null;
  finished: string | null;
  /** The site of the server that served the current attempt's boot config (null: before sites). */
  site?: string | null;
}

/**
 * One OS install job's first-boot bookkeeping (issue 11). installing: the agent fetched its plan;
 * waiting: the agent reported the system laid down, the installed system has until `deadline` to
 * report its first boot; reported / timed_out: done; superseded: a newer request replaced it.
 */
export type OsInstallState = 'installing' | 'waiting' | 'reported' | 'timed_out' | 'superseded';

export interface OsInstallRecord {
  jobId: string;
  clientId: string;
  productId: string;
  state: OsInstallState;
  /** sha256 of the current one-time first-boot token; null once used or never minted. */
  tokenHash: string | null;
  tokenExpires: string | null;
  /** When the first-boot report is due (set when the agent reports the system laid down). */
  deadline: string | null;
  /** The installed system's report (FirstBootReport), once received. */
  report: unknown;
  updated: string;
}

export type JobEventKind = 'state' | 'progress' | 'log';

export interface JobEventRecord {
  id: number;
  jobId: string;
  ts: string;
  kind: JobEventKind;
  /** The job's state right after this event. */
  state: JobState;
  percent: number | null;
  message: string;
}

export class StoreConflictError extends NetimageError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'StoreConflictError';
  }
}

export class StoreNotFoundError extends NetimageError {
  constructor(message: string) {
    super('not_found', message);
    this.name = 'StoreNotFoundError';
  }
}

/** The database cannot be reached (a shared PostgreSQL store whose link dropped): try again later. */
export class StoreUnavailableError extends NetimageError {
  constructor(message: string, options?: ErrorOptions) {
    super('unavailable', message, options);
    this.name = 'StoreUnavailableError';
  }
}

export interface ClientPatch {
  mac?: string | null;
  uuid?: string | null;
  group?: string | null;
  description?: string;
  notes?: string;
  inventory?: unknown | null;
}

export interface NewClient {
  id: string;
  mac?: string | null;
  uuid?: string | null;
  group?: string | null;
  description?: string;
  notes?: string;
}

export interface JobFilter {
  clientId?: string;
  /** Jobs of the PCs that are in this group now. */
  group?: string;
  productId?: string;
  states?: JobState[];
  /** At most this many of each PC's newest jobs (a room view needs each PC's latest, whatever the others did). */
  perClient?: number;
  limit?: number;
}

export interface Store extends OperatorStore, AuthStore {
  /** Run fn atomically: all of its writes or none. Calls inside must use the tx store passed in. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;

  createGroup(group: Group): Promise<Group>;
  getGroup(id: string): Promise<Group | null>;
  listGroups(): Promise<Group[]>;
  /** Refused while a schedule targets the group; takes it from the operators who had it (their names). */
  deleteGroup(id: string): Promise<{ operators: string[] }>;

  /** Refuses a duplicate id, MAC or UUID with a StoreConflictError naming the other client. */
  createClient(client: NewClient): Promise<Client>;
  updateClient(id: string, patch: ClientPatch): Promise<Client>;
  getClient(id: string): Promise<Client | null>;
  /** A bootserver of `site` read this client's boot config at `at`. */
  markClientSeen(id: string, at: string, site: string): Promise<void>;
  findClientByMac(mac: string): Promise<Client | null>;
  findClientByUuid(uuid: string): Promise<Client | null>;
  listClients(filter?: { group?: string }): Promise<Client[]>;
  deleteClient(id: string): Promise<void>;

  upsertProduct(product: ProductDefinition): Promise<void>;
  getProduct(id: string): Promise<ProductDefinition | null>;
  listProducts(): Promise<ProductDefinition[]>;

  getProductOnClient(clientId: string, productId: string): Promise<ProductOnClient | null>;
  listProductOnClients(filter: { clientId?: string; productId?: string; pendingOnly?: boolean }): Promise<ProductOnClient[]>;
  putProductOnClient(state: ProductOnClient): Promise<void>;

  /**
   * States of products netimage does not run (opsi localboot products such as windomain) that a
   * restore put back with its image: the same fields, but no catalogue product behind them.
   */
  listForeignProductStates(filter: { clientId?: string; productId?: string }): Promise<ProductOnClient[]>;
  getForeignProductState(clientId: string, productId: string): Promise<ProductOnClient | null>;
  putForeignProductState(state: ProductOnClient): Promise<void>;
  deleteForeignProductState(clientId: string, productId: string): Promise<void>;

  /** Values stored for this client only (not the product defaults). */
  getPropertyValues(clientId: string, productId: string): Promise<Record<string, PropertyValue>>;
  setPropertyValues(clientId: string, productId: string, values: Record<string, PropertyValue>): Promise<void>;

  /** The images the client's agent last reported, oldest first; deleted with the client. */
  listClientImages(clientId: string): Promise<ClientImage[]>;
  /** Replaces all of the client's image rows by these. */
  replaceClientImages(clientId: string, images: readonly ClientImage[]): Promise<void>;

  createJob(job: Job): Promise<Job>;
  getJob(id: string): Promise<Job | null>;
  updateJob(job: Job): Promise<void>;
  findJobByTokenHash(tokenHash: string): Promise<Job | null>;
  /** The job of this client that is booting or running, if any. */
  findActiveJob(clientId: string): Promise<Job | null>;
  listJobs(filter?: JobFilter): Promise<Job[]>;

  addJobEvent(event: Omit<JobEventRecord, 'id'>): Promise<JobEventRecord>;
  /** Oldest first: after `afterId`, at most `limit` (10 000); with `newest` the newest that many instead. */
  listJobEvents(jobId: string, options?: { afterId?: number; kinds?: JobEventKind[]; limit?: number; newest?: number }): Promise<JobEventRecord[]>;
  putJobLog(jobId: string, text: string): Promise<void>;
  getJobLog(jobId: string): Promise<string | null>;

  putOsInstall(record: OsInstallRecord): Promise<void>;
  getOsInstall(jobId: string): Promise<OsInstallRecord | null>;
  findOsInstallByTokenHash(tokenHash: string): Promise<OsInstallRecord | null>;
  listOsInstalls(filter: { clientId?: string; productId?: string; states?: OsInstallState[] }): Promise<OsInstallRecord[]>;

  addAdminTokenHash(hash: string, description: string): Promise<void>;
  hasAdminTokenHash(hash: string): Promise<boolean>;
  countAdminTokens(): Promise<number>;
  deleteAdminTokens(): Promise<void>;
}

// ---- Wake-on-LAN and schedules (operator features; bootserver/wol, bootserver/schedules) ----

/** Where a group's magic packets go: its subnet-directed broadcast (e.g. 10.1.101.255) and UDP port. */
export interface GroupWakeTarget {
  groupId: string;
  broadcast: string;
  port: number;
}

/** waiting: packet sent, the PC has not read its boot config yet; woke: it did; did_not_wake: the timeout passed first. */
export type WakeStatus = 'waiting' | 'woke' | 'did_not_wake';

/** The latest wake of one client (one row per client: a newer wake replaces it). */
export interface WakeRecord {
  clientId: string;
  status: WakeStatus;
  /** Who asked: "api", "schedule <name>", "action". */
  source: string;
  /** Broadcast address and port the packet went to. */
  address: string;
  sent: string;
  deadline: string;
  updated: string;
}

/** What a schedule does when a run was missed while the server was down. */
export type MissedRunPolicy = 'skip' | 'run-once';

export interface Schedule {
  id: string;
  /** Unique, chosen by the admin (e.g. "room101-morning"). */
  name: string;
  /**
   * once: `atLocal` (the wall time the admin typed) in `timezone` (null = the server's), `at` the
   * instant it is as last planned (made, or a server start); schedules from before `atLocal` have only `at`;
   * cron: `cron` (5 or 6 fields) in `timezone`.
   */
  kind: 'once' | 'cron';
  at: string | null;
  /** "2027-03-28T02:30:00": no offset; the scheduler turns it into an instant when it plans the run (DST and zone rules of that day). */
  atLocal: string | null;
  cron: string | null;
  timezone: string | null;
  target: { kind: 'client' | 'group'; id: string };
  /** Product to request (null = wake only). */
  productId: string | null;
  actionRequest: string;
  properties: Record<string, PropertyValue>;
  wake: boolean;
  missedPolicy: MissedRunPolicy;
  /** run-once: a missed run still runs when the server is back within this many seconds of it. */
  lateWindowSeconds: number;
  enabled: boolean;
  /** The next due time (null: a one-shot that has run or was skipped). */
  nextRun: string | null;
  lastRun: string | null;
  created: string;
  modified: string;
}

export type ScheduleRunOutcome = 'ran' | 'failed' | 'skipped';

export interface ScheduleRun {
  id: number;
  scheduleId: string;
  /** The time the run was due. */
  due: string;
  /** When the scheduler handled it. */
  handled: string;
  outcome: ScheduleRunOutcome;
  message: string;
}

/** The store methods of the operator features; the main Store extends this. */
export interface OperatorStore {
  getGroupWakeTarget(groupId: string): Promise<GroupWakeTarget | null>;
  /** null removes the group's own target (the server default applies again). */
  setGroupWakeTarget(groupId: string, target: Omit<GroupWakeTarget, 'groupId'> | null): Promise<void>;

  putWakeRecord(record: WakeRecord): Promise<void>;
  getWakeRecord(clientId: string): Promise<WakeRecord | null>;
  listWakeRecords(filter?: { status?: WakeStatus }): Promise<WakeRecord[]>;

  /** Refuses a duplicate name with a StoreConflictError. */
  createSchedule(schedule: Schedule): Promise<Schedule>;
  getSchedule(idOrName: string): Promise<Schedule | null>;
  listSchedules(): Promise<Schedule[]>;
  updateSchedule(schedule: Schedule): Promise<void>;
  deleteSchedule(id: string): Promise<void>;
  addScheduleRun(run: Omit<ScheduleRun, 'id'>): Promise<ScheduleRun>;
  listScheduleRuns(scheduleId: string, options?: { limit?: number }): Promise<ScheduleRun[]>;

  /** Number of jobs per state and product (for /metrics). */
  countJobs(): Promise<{ state: JobState; productId: string; count: number }[]>;
}

// ---- users, sessions, API tokens and the audit log (bootserver/auth) ----

/** admin: everything. operator: wake, restore and back up the groups assigned to them (auth/policy.ts). */
export type Role = 'admin' | 'operator';

export interface User {
  /** Login name, unique. */
  name: string;
  role: Role;
  /** Group ids an operator may act on (ignored for admins). */
  groups: string[];
  /** A self-describing KDF hash (auth/passwords.ts); null: API tokens only, no UI login. */
  passwordHash: string | null;
  created: string;
  modified: string;
}

export interface UserPatch {
  role?: Role;
  groups?: string[];
  passwordHash?: string | null;
}

/** An API token of a user (for the CLI); only the sha256 of the token is stored. */
export interface UserToken {
  hash: string;
  userName: string;
  /** Chosen by the user, unique per user (e.g. "laptop"). */
  name: string;
  created: string;
  lastUsed: string | null;
}

/** A UI login; the cookie holds the session token, the store its sha256 only. */
export interface SessionRecord {
  hash: string;
  userName: string;
  /** Sent back in X-CSRF-Token by every state-changing request of this session. */
  csrfToken: string;
  created: string;
  lastSeen: string;
  /** Idle timeout of this session (seconds since lastSeen). */
  idleSeconds: number;
  /** Absolute end, however active the session is. */
  expires: string;
  /** The address it was opened from. */
  source: string;
}

/** One state-changing admin request (or login), as recorded for `netimage audit`. */
export interface AuditEntry {
  id: number;
  ts: string;
  /** User name, or "admin-token" for the first-start admin token. */
  actor: string;
  role: string;
  /** ui: session cookie; cli: bearer token; none: a refused login. */
  via: 'ui' | 'cli' | 'none';
  /** Source address of the request. */
  source: string;
  method: string;
  /** Route pattern, e.g. POST /api/v1/groups/:id/action. */
  route: string;
  /** The PCs the request acted on (or would have). */
  clients: string[];
  /** Route parameters and the body without secrets. */
  detail: Record<string, unknown>;
  status: number;
}

export interface AuditFilter {
  actor?: string;
  since?: string;
  limit?: number;
}

/** The store methods of users, sessions, tokens and the audit log; the main Store extends this. */
export interface AuthStore {
  /** Refuses a duplicate name with a StoreConflictError. */
  createUser(user: User): Promise<User>;
  getUser(name: string): Promise<User | null>;
  listUsers(): Promise<User[]>;
  updateUser(name: string, patch: UserPatch): Promise<User>;
  /** Its tokens and sessions go with it. */
  deleteUser(name: string): Promise<void>;

  /** Refuses a duplicate token name of the same user with a StoreConflictError. */
  addUserToken(token: UserToken): Promise<void>;
  findUserToken(hash: string): Promise<UserToken | null>;
  listUserTokens(userName: string): Promise<UserToken[]>;
  deleteUserToken(userName: string, name: string): Promise<void>;
  touchUserToken(hash: string, at: string): Promise<void>;

  createSession(session: SessionRecord): Promise<void>;
  getSession(hash: string): Promise<SessionRecord | null>;
  touchSession(hash: string, at: string): Promise<void>;
  deleteSession(hash: string): Promise<void>;
  /** Ends every session of a user (password change, role change, removal). */
  deleteUserSessions(userName: string): Promise<void>;
  /** Sessions past their absolute end (the idle ones are dropped when next seen). */
  deleteExpiredSessions(now: string): Promise<number>;

  addAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  /** Newest first. */
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
}
