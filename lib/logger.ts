// The one logger (pino). Every module asks for a child with its component name so log lines
// can be filtered by part of the system (dhcp, tftp, http, agent-api, ...).
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Write to this stream instead of stdout (tests capture lines this way). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env['NETIMAGE_LOG_LEVEL'] as LevelWithSilent | undefined) ?? 'info';
  if (options.destination) return pino({ level }, options.destination);
  // Asynchronous stdout: a synchronous write per line cost as much as answering a DHCP packet
  // under load. pino flushes it when the process exits.
  return pino({ level }, pino.destination({ dest: 1, sync: false }));
}

/** A logger that drops everything: for unit tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
