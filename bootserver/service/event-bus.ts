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

/** In-process fan-out of one kind of event to live listeners. */
class FanOut<T> {
  private readonly emitter = new EventEmitter();
  constructor() {
    // Every SSE client is a listener; a classroom of admins is far below this.
    this.emitter.setMaxListeners(1000);
  }
  publish(event: T): void {
    this.emitter.emit('event', event);
  }
  subscribe(listener: (event: T) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}

export class JobEventBus extends FanOut<LiveJobEvent> {}

/** A client event that belongs to no job (a PC that did not wake); the SSE stream sends it as `event: client`. */
export interface ClientNotice {
  type: 'wake';
  clientId: string;
  /** The new wake status (see store WakeStatus). */
  status: string;
  message: string;
  ts: string;
}

/** Client notices, kept apart from job events so job listeners never see a non-job event. */
export class ClientNoticeBus extends FanOut<ClientNotice> {}
