// opsi's delay_for_reboot: seconds the PC waits after its job before it reboots (or powers off),
// so someone at the console can read the outcome. Any product may carry the property.
import type { AgentJob } from '../../lib/agent-protocol.ts';
import { MAX_REBOOT_DELAY_SECONDS } from '../../lib/products.ts';

export function rebootDelaySeconds(job: Pick<AgentJob, 'properties'>): number {
  const v = job.properties['delay_for_reboot'];
  const s = Array.isArray(v) ? v[0] : v;
  const n = Number(typeof s === 'string' ? s.trim() : s);
  if (typeof s !== 'string' || s.trim() === '' || !Number.isFinite(n) || n <= 0) return 0;
  return Math.min(Math.floor(n), MAX_REBOOT_DELAY_SECONDS);
}
