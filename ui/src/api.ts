// The admin API from the browser. Two ways in: a user session (HttpOnly cookie; every
// state-changing call sends the session's CSRF token as X-CSRF-Token) or the admin token (kept in
// sessionStorage, so it ends with the tab, and sent in the Authorization header as the CLI does).
// The event stream is an EventSource: the cookie goes with it; with the admin token it needs a
// short-lived ticket in the URL (EventSource cannot send headers).
import type { LiveJobEvent, ClientNotice, SessionUser } from './types.ts';

export type Auth = { kind: 'session'; csrfToken: string; user: SessionUser } | { kind: 'token'; token: string };

/** An API answer other than 2xx: the server's message is worded for the admin and shown as it is. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'ApiError';
  }
}

const TOKEN_KEY = 'netimage.adminToken';

/** What a request that got no answer at all says (the browser's own words are "Failed to fetch"). */
export const NO_ANSWER = 'The netimage server does not answer (stopped, restarting, or the network between is down). Try again once it is back; whether a change just sent took effect shows on the page then.';

/** fetch, with a request that got no answer (server stopped, network down) as an ApiError that says so. */
async function send(path: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, NO_ANSWER);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { message?: string };
    if (body.message) return new ApiError(res.status, body.message);
  } catch {
    // not JSON
  }
  return new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
}

export class Api {
  #auth: Auth | null = null;
  /** Called when the server no longer accepts the credentials (expired session, reset token). */
  onSignedOut: () => void = () => undefined;

  get auth(): Auth | null {
    return this.#auth;
  }

  /** A session or a token from earlier in this tab, if the server still takes it. */
  async resume(): Promise<Auth | null> {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      const res = await fetch('/api/v1/groups', { headers: { authorization: `Bearer ${token}` } });
      if (res.ok) return (this.#auth = { kind: 'token', token });
      sessionStorage.removeItem(TOKEN_KEY);
    }
    const res = await fetch('/api/v1/session', { credentials: 'same-origin' });
    if (res.ok) {
      const body = (await res.json()) as { user: SessionUser; csrfToken: string };
      return (this.#auth = { kind: 'session', user: body.user, csrfToken: body.csrfToken });
    }
    return null;
  }

  async signIn(username: string, password: string): Promise<Auth> {
    const res = await send('/api/v1/session', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    if (res.status === 404) throw new ApiError(404, 'this server has no user accounts yet: sign in with the admin token');
    if (!res.ok) throw await errorOf(res);
    const body = (await res.json()) as { user: SessionUser; csrfToken: string };
    return (this.#auth = { kind: 'session', user: body.user, csrfToken: body.csrfToken });
  }

  async signInWithToken(token: string): Promise<Auth> {
    const res = await send('/api/v1/groups', { headers: { authorization: `Bearer ${token.trim()}` } });
    if (!res.ok) throw await errorOf(res);
    sessionStorage.setItem(TOKEN_KEY, token.trim());
    return (this.#auth = { kind: 'token', token: token.trim() });
  }

  async signOut(): Promise<void> {
    if (this.#auth?.kind === 'session') await this.call('DELETE', '/api/v1/session').catch(() => undefined);
    sessionStorage.removeItem(TOKEN_KEY);
    this.#auth = null;
  }

  #headers(method: string): Record<string, string> {
    const a = this.#auth;
    if (a?.kind === 'token') return { authorization: `Bearer ${a.token}` };
    if (a?.kind === 'session' && method !== 'GET') return { 'x-csrf-token': a.csrfToken };
    return {};
  }

  async #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const headers = this.#headers(method);
    const init: RequestInit = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await send(path, init);
    if (res.status === 401 && this.#auth) {
      this.#auth = null;
      sessionStorage.removeItem(TOKEN_KEY);
      this.onSignedOut();
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  /** A JSON call; throws ApiError with the server's message. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(method, path, body);
    return (res.status === 204 ? null : await res.json()) as T;
  }

  async text(path: string): Promise<string> {
    return (await this.#fetch('GET', path)).text();
  }

  /**
   * Job events (and client notices) as they happen. Reopens after a drop; with the admin token it
   * fetches a new ticket first, since tickets expire after a minute. Returns a function to stop.
   */
  follow(onJob: (e: LiveJobEvent) => void, onClient: (n: ClientNotice) => void, onOpen: () => void): () => void {
    let source: EventSource | null = null;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const open = async () => {
      if (stopped || !this.#auth) return;
      let url = '/api/v1/events';
      if (this.#auth.kind === 'token') {
        try {
          const { ticket } = await this.call<{ ticket: string }>('POST', '/api/v1/events/tickets');
          url += `?ticket=${encodeURIComponent(ticket)}`;
        } catch {
          retry = setTimeout(() => void open(), 3000);
          return;
        }
      }
      if (stopped) return;
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener('open', onOpen);
      source.addEventListener('job', (m) => onJob(JSON.parse((m as MessageEvent<string>).data) as LiveJobEvent));
      source.addEventListener('client', (m) => onClient(JSON.parse((m as MessageEvent<string>).data) as ClientNotice));
      source.addEventListener('error', () => {
        // EventSource retries by itself unless the server refused (an expired ticket): then start over.
        if (source?.readyState === EventSource.CLOSED) {
          source = null;
          retry = setTimeout(() => void open(), 2000);
        }
      });
    };
    void open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }
}

export const api = new Api();

/** A path segment, encoded (client and group ids are checked by the server too). */
export const seg = (s: string) => encodeURIComponent(s);
