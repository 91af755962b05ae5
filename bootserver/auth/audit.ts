// What the audit log keeps of a request: its route parameters and body, without secrets and cut
// to a size (a CSV import of 5 MB is recorded by its first lines).
import { hideUrlPasswords } from '../../lib/redact.ts';

const SECRET_KEY = /pass(word)?|token|secret/i;
const MAX_STRING = 500;
const MAX_ITEMS = 100;

export function redact(value: unknown, depth = 0): unknown {
  // A proxy or mirror URL (os build, the install products' properties) may carry a password.
  if (typeof value === 'string') return hideUrlPasswords(value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '…';
  if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value).slice(0, MAX_ITEMS).map(([k, v]) => [k, SECRET_KEY.test(k) ? '***' : redact(v, depth + 1)]));
}

export function auditDetail(params: unknown, body: unknown): Record<string, unknown> {
  const detail: Record<string, unknown> = {};
  if (params && typeof params === 'object' && Object.keys(params).length) detail['params'] = redact(params);
  if (body !== undefined && body !== null) detail['body'] = redact(body);
  return detail;
}
