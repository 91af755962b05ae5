// The scheduler loop: sleeps until the next due schedule (at most MAX_SLEEP_MS, so clock jumps
// and edits are noticed), then claims each due run in a transaction by moving `nextRun` on
// before it acts. A crash between claim and action loses that run rather than repeating it:
// a restore that runs twice is worse than one that an admin has to start by hand.
import type { Logger } from '../../lib/logger.ts';
import type { Schedule, ScheduleRun, Store } from '../store/types.ts';
import { decideDue, onceInstant } from './timing.ts';

const MAX_SLEEP_MS = 30_000;

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Does what a schedule says (set the action, wake); returns a line for the run record. */
export type ScheduleAction = (schedule: Schedule, context: { due: Date; late: boolean }) => Promise<string>;

export interface SchedulerOptions {
  store: Store;
  action: ScheduleAction;
  log: Logger;
  clock?: Clock;
}

export class Scheduler {
  private readonly store: Store;
  private readonly action: ScheduleAction;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Runs due before this were missed while the server was down. */
  private startedAt: Date | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<ScheduleRun[]> | null = null;
  private stopped = false;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.action = options.action;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
  }

  /** Start: handle what came due while the server was down, then keep time. */
  async start(): Promise<void> {
    this.startedAt = this.clock.now();
    this.stopped = false;
    await this.replanOneShots().catch((error) => this.log.error({ err: error }, 'scheduler could not re-plan the one-shot schedules'));
    await this.tickAndArm();
  }

  /**
   * A one-shot's next run was worked out from its wall time when it was made. The server's zone
   * (a schedule without one) and the zone rules (Node's time zone data) change only with a
   * restart: work it out again here, so `schedule ls` and the timer agree with the run.
   */
  private async replanOneShots(): Promise<void> {
    for (const listed of await this.store.listSchedules()) {
      if (listed.kind !== 'once' || !listed.atLocal || listed.nextRun === null) continue;
      await this.store.transaction(async (tx) => {
        const s = await tx.getSchedule(listed.id);
        if (!s || !s.atLocal || s.nextRun === null) return;
        const at = onceInstant(s).toISOString();
        if (at === s.nextRun) return;
        this.log.info({ schedule: s.name, was: s.nextRun, now: at }, 'one-shot re-planned: its wall time falls elsewhere under the zone rules of this start');
        await tx.updateSchedule({ ...s, at, nextRun: at });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => undefined);
  }

  /** Started and not stopped (health check). */
  get running(): boolean {
    return this.startedAt !== null && !this.stopped;
  }

  /** Schedules changed (API): re-arm the timer for the new earliest run. */
  poke(): void {
    if (this.startedAt === null || this.stopped) return;
    void this.arm();
  }

  private async tickAndArm(): Promise<void> {
    try {
      await this.tick();
    } catch (error) {
      this.log.error({ err: error }, 'scheduler tick failed');
    }
    await this.arm();
  }

  /** Never rejects: it runs from timers and API hooks, where a rejection would end the process. */
  private async arm(): Promise<void> {
    try {
      await this.armOnce();
    } catch (error) {
      if (!this.stopped) this.log.error({ err: error }, 'scheduler could not read the schedules; retrying in 30 s');
      if (!this.stopped) this.timer = setTimeout(() => void this.tickAndArm(), MAX_SLEEP_MS).unref();
    }
  }

  private async armOnce(): Promise<void> {
    if (this.stopped) return;
    const next = (await this.store.listSchedules())
      .filter((s) => s.enabled && s.nextRun !== null)
      .map((s) => Date.parse(s.nextRun!))
      .reduce((a, b) => Math.min(a, b), Infinity);
    if (this.stopped) return;
    const wait = Math.max(0, Math.min(MAX_SLEEP_MS, next - this.clock.now().getTime()));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tickAndArm(), wait);
    this.timer.unref();
  }

  /** Handle every due schedule once; returns the run records written. Tests call this with a fake clock. */
  tick(): Promise<ScheduleRun[]> {
    // One tick at a time: a poke during a slow action must not claim the same run twice.
    const run = (this.ticking ?? Promise.resolve([])).catch(() => []).then(() => this.tickOnce());
    this.ticking = run;
    return run;
  }

  private async tickOnce(): Promise<ScheduleRun[]> {
    const startedAt = this.startedAt ?? this.clock.now();
    const records: ScheduleRun[] = [];
    for (const listed of await this.store.listSchedules()) {
      if (this.stopped) break;
      const now = this.clock.now();
      // Claim: decide on the stored row and move nextRun on in one transaction.
      const claimed = await this.store.transaction(async (tx) => {
        const schedule = await tx.getSchedule(listed.id);
        if (!schedule) return null;
        const decision = decideDue(schedule, now, startedAt);
        if (decision.kind === 'wait') return null;
        const updated: Schedule = {
          ...schedule,
          nextRun: decision.next?.toISOString() ?? null,
          lastRun: decision.kind === 'run' ? now.toISOString() : schedule.lastRun,
          modified: now.toISOString(),
        };
        await tx.updateSchedule(updated);
        return { schedule: updated, decision };
      });
      if (!claimed) continue;
      const { schedule, decision } = claimed;
      let outcome: ScheduleRun['outcome'];
      let message: string;
      if (decision.kind === 'skip') {
        outcome = 'skipped';
        message = decision.reason;
        this.log.warn({ schedule: schedule.name, due: decision.due.toISOString() }, message);
      } else {
        try {
          message = await this.action(schedule, { due: decision.due, late: decision.late });
          if (decision.late) message = `late run (missed while the server was down, policy run-once): ${message}`;
          outcome = 'ran';
          this.log.info({ schedule: schedule.name, due: decision.due.toISOString() }, message);
        } catch (error) {
          outcome = 'failed';
          message = (error as Error).message;
          this.log.error({ schedule: schedule.name, err: error }, 'scheduled run failed');
        }
      }
      records.push(await this.store.addScheduleRun({ scheduleId: schedule.id, due: decision.due.toISOString(), handled: this.clock.now().toISOString(), outcome, message }));
    }
    return records;
  }
}
