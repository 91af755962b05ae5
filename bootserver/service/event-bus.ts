// In-process fan-out of job events to live listeners (the SSE stream, `netimage jobs --follow`).
// The store keeps the history; this only carries what happens from now on.
import { EventEmitter } from 'node:events';
import type { JobEventKind, JobState } from '../store/types.ts';

export interface LiveJobEvent {
  id: number;
  jobId: string;
  clientId: string;
  productId: string;
  state: JobState;
  kind: JobEventKind;
  percent: number | null;
  message: string;
  ts: string;
}

export class JobEventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    // Every SSE client is a listener; a classroom of admins is far below this.
    this.emitter.setMaxListeners(1000);
  }
  publish(event: LiveJobEvent): void {
    this.emitter.emit('event', event);
  }
  subscribe(listener: (event: LiveJobEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}

/** A client event that belongs to no job (a PC that did not wake); the SSE stream sends it as `event: client`. */
export interface ClientNotice {
  type: 'wake';
  clientId: string;
  /** The new wake status (see store WakeStatus). */
  status: string;
  message: string;
  ts: string;
}

/** Same fan-out for client notices, kept apart so job listeners never see a non-job event. */
export class ClientNoticeBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(1000);
  }
  publish(notice: ClientNotice): void {
    this.emitter.emit('notice', notice);
  }
  subscribe(listener: (notice: ClientNotice) => void): () => void {
    this.emitter.on('notice', listener);
    return () => this.emitter.off('notice', listener);
  }
}
