// The CLI's view of the admin API: where the server is, which token to send, and calls that
// turn HTTP errors into one readable line.
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { NetimageError } from '../../lib/errors.ts';
import { kindOfStatus } from '../http/errors.ts';
import { inAdminWords } from './admin-words.ts';

export interface Credentials {
  url: string;
  token: string;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'netimage', 'credentials.json');
}

export async function readCredentials(env: NodeJS.ProcessEnv = process.env): Promise<Partial<Credentials>> {
  try {
    return JSON.parse(await readFile(credentialsPath(env), 'utf8')) as Partial<Credentials>;
  } catch {
    return {};
  }
}

/** Saved for the CLI of this user only (0600), like a kubeconfig; the server keeps only a hash. */
export async function saveCredentials(credentials: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = credentialsPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/** An error answer of the server (status 0: no answer), as one line for the user. */
export class ApiError extends NetimageError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(kindOfStatus(status), message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * No answer, or an answer that stopped (the server is stopped or restarting, the link is cut):
 * status 0. `why` is what the connection said, for a follower that tries again.
 */
export class ConnectionLost extends ApiError {
  readonly why: string;
  constructor(message: string, why: string) {
    super(0, message);
    this.name = 'ConnectionLost';
    this.why = why;
  }
}

/** An error answer as one line: its status and the server's message (not the JSON around it). */
function refusal(status: number, text: string): ApiError {
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string } | null)?.message ?? text;
  } catch {
    // plain text error
  }
  const hint = status === 401 ? ' (log in with: netimage login <API token>)' : '';
  return new ApiError(status, `${status}: ${inAdminWords(message)}${hint}`);
}

/** What went wrong under a failed fetch: undici's own words ("fetch failed", "terminated") say nothing, their cause does. */
function fetchFailure(error: unknown): string {
  return (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
}

export class AdminClient {
  readonly url: string;
  private readonly token: string | null;
  #zone: string | null | undefined;

  constructor(url: string, token: string | null) {
    this.url = url.replace(/\/+$/, '');
    this.token = token;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /** A JSON (or empty) answer; an HTTP error becomes an ApiError of one line. */
  async call<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const text = await this.request(method, path, body, contentType);
    try {
      return (text ? JSON.parse(text) : null) as T;
    } catch {
      return text as T; // plain text answer
    }
  }

  /** The server's time zone (its health answer), or null from a server too old to say. */
  async serverTimeZone(): Promise<string | null> {
    if (this.#zone === undefined) {
      const health = await this.call<{ timeZone?: unknown } | null>('GET', '/api/v1/health');
      this.#zone = typeof health?.timeZone === 'string' ? health.timeZone : null;
    }
    return this.#zone;
  }

  /** GET a text answer as it came (a log: never parsed, even when it looks like JSON). */
  getText(path: string): Promise<string> {
    return this.request('GET', path, undefined, 'application/json');
  }

  private async request(method: string, path: string, body: unknown, contentType: string): Promise<string> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: this.headers(body === undefined ? {} : { 'content-type': contentType }),
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    const text = await res.text();
    if (!res.ok) throw refusal(res.status, text);
    return text;
  }

  /** No answer at all (server stopped, wrong --url): one line saying so, not fetch's "fetch failed". */
  private unreachable(error: unknown): ConnectionLost {
    const why = fetchFailure(error);
    return new ConnectionLost(`cannot reach the netimage server at ${this.url} (${why}); is it running? (bash run.sh start)`, why);
  }

  /**
   * Stream server-sent events until onEvent (or onOpen) returns 'stop'. The server ending the
   * stream first (stopped, restarting, the link cut) is a ConnectionLost saying so: the jobs go on
   * without us (follow.ts tries again). onOpen runs before any event is read.
   */
  async streamEvents(
    query: string,
    onEvent: (data: unknown) => 'stop' | void,
    signal?: AbortSignal,
    onOpen?: () => 'stop' | void | Promise<'stop' | void>,
  ): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/api/v1/events${query}`, { headers: this.headers({ accept: 'text/event-stream' }), ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw this.unreachable(error);
    }
    if (!res.ok || !res.body) throw refusal(res.status, await res.text());
    // The server subscribes before it answers: from here on no event is missed.
    if ((await onOpen?.()) === 'stop') {
      await res.body.cancel().catch(() => undefined);
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let sep: number;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data && onEvent(JSON.parse(data)) === 'stop') {
            await res.body.cancel().catch(() => undefined);
            return;
          }
        }
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      throw this.streamEnded(error);
    }
    throw this.streamEnded(null);
  }

  private streamEnded(error: unknown): ConnectionLost {
    const why = error ? fetchFailure(error) : '';
    return new ConnectionLost(`the netimage server at ${this.url} ended the live stream${why ? ` (${why})` : ''}: stopped or restarting? The jobs go on; netimage jobs shows where they are`, why);
  }
}
