// UI sessions: a random token in an HttpOnly cookie, its sha256 in the store with a CSRF token,
// an idle timeout and an absolute end. Each session row carries its own timeouts, so checking
// one needs only the store (http/auth.ts runs without the config).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionRecord, Store, User } from '../store/types.ts';
import { sha256Hex } from '../service/tokens.ts';

export interface SessionSettings {
  idleMinutes: number;
  absoluteHours: number;
  /** Mark the cookie Secure (serve over TLS, e.g. behind a reverse proxy). */
  secureCookie: boolean;
  /** scrypt cost of new password hashes: N = 2^log2N (r = 8, p = 3). */
  scryptLog2N: number;
}

/** Plain name over HTTP; the __Host- prefix (Secure, Path=/, no Domain enforced by browsers) with TLS. */
export const SESSION_COOKIE = 'netimage_session';
export const SECURE_SESSION_COOKIE = '__Host-netimage_session';

/** lastSeen is written at most this often (a busy UI would otherwise write on every request). */
const TOUCH_EVERY_MS = 60_000;

export interface OpenedSession {
  token: string;
  record: SessionRecord;
}

export async function openSession(store: Store, user: User, source: string, settings: SessionSettings, now = new Date()): Promise<OpenedSession> {
  const token = 'ns_' + randomBytes(32).toString('base64url');
  const ts = now.toISOString();
  const record: SessionRecord = {
    hash: sha256Hex(token),
    userName: user.name,
    csrfToken: randomBytes(24).toString('base64url'),
    created: ts,
    lastSeen: ts,
    idleSeconds: settings.idleMinutes * 60,
    expires: new Date(now.getTime() + settings.absoluteHours * 3_600_000).toISOString(),
    source,
  };
  await store.deleteExpiredSessions(ts);
  await store.createSession(record);
  return { token, record };
}

/** The live session of this cookie value, or null (unknown, idle too long or past its end: then deleted). */
export async function resolveSession(store: Store, token: string, now = new Date()): Promise<SessionRecord | null> {
  const hash = sha256Hex(token);
  const s = await store.getSession(hash);
  if (!s) return null;
  const t = now.getTime();
  if (t >= Date.parse(s.expires) || t >= Date.parse(s.lastSeen) + s.idleSeconds * 1000) {
    await store.deleteSession(hash);
    return null;
  }
  if (t - Date.parse(s.lastSeen) >= TOUCH_EVERY_MS) await store.touchSession(hash, now.toISOString());
  return s;
}

export function closeSession(store: Store, token: string): Promise<void> {
  return store.deleteSession(sha256Hex(token));
}

/** Constant-time comparison of the X-CSRF-Token header with the session's. */
export function csrfMatches(session: SessionRecord, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const a = Buffer.from(header);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session cookie's value from a Cookie header (either name), or null. */
export function sessionCookie(header: string | undefined): string | null {
  if (!header) return null;
  let plain: string | null = null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === SECURE_SESSION_COOKIE && value) return value;
    if (name === SESSION_COOKIE && value) plain = value;
  }
  return plain;
}

/** Set-Cookie for a new session, or (maxAgeSeconds 0) to remove it. */
export function sessionSetCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  const name = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  return `${name}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
