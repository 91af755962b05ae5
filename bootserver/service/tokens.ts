// Secrets: admin bearer tokens (random, stored as sha256) and one-time job tokens.
// A job token is derived from a server secret, the job id and the attempt number, so the same
// boot that re-reads its config (firmware retries) gets the same token back, while the next
// boot attempt gets a new one and the old one stops working. Only hashes are stored.
import { createHash, createHmac, randomBytes } from 'node:crypto';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function newAdminToken(): string {
  return 'ni_' + randomBytes(24).toString('base64url');
}

export function newServerSecret(): string {
  return randomBytes(32).toString('hex');
}

export function deriveJobToken(serverSecret: string, jobId: string, attempt: number): string {
  return createHmac('sha256', serverSecret).update(`${jobId}:${attempt}`).digest('hex').slice(0, 32);
}
