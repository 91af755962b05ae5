// The OS install scenarios are serial steps sharing one lab and disk; each step has its own
// timeout (ava's counts from the last finished test, and an install step needs far more than a boot).
import test, { type ExecutionContext } from 'ava';
import { bootVm, jobsOf, waitForJobResult, type BootOptions, type JobRun } from '../../vm-harness/classroom.ts';
import type { LabServer } from '../../vm-harness/lab-server.ts';
import type { Lab } from '../../vm-harness/netns.ts';

export const step = (name: string, minutes: number, fn: (t: ExecutionContext) => Promise<void>) =>
  test.serial(name, async (t) => {
    t.timeout(minutes * 60_000);
    await fn(t);
  });

/** Boot with a product the server queued (no action set here) and wait for its new job's result. */
export async function runQueued(t: ExecutionContext, lab: Lab, server: LabServer, boot: BootOptions, o: { clientId: string; productId: string; minutes: number }): Promise<JobRun> {
  const before = new Set((await jobsOf(server, o.clientId, o.productId)).map((j) => j.id));
  const vm = await bootVm(lab, boot);
  try {
    const r = await waitForJobResult(server, vm, { clientId: o.clientId, productId: o.productId, ignoreJobIds: before, timeoutMs: o.minutes * 60_000 });
    t.log(`${o.productId}: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
    t.is(r.job.state, 'succeeded', vm.tail(40));
    return r;
  } finally {
    await vm.stop();
  }
}
