// A test PC: a loop device as its disk and the imaging engine as its boot image. `boot` is one
// network boot: read the boot config as grub does (which starts the job the server decided on) and
// run that job on the loop device (pc-run.ts).
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { run } from '../../../lib/process.ts';
import { parseNetbootConfig, readBootConfig, type TestServer } from '../../helpers/server.ts';
import { createLoop, MiB, ROOT, type Loop } from '../../imaging/helpers/loop.ts';

export interface PcRunOutcome {
  jobId: string;
  productId: string;
  result: 'successful' | 'failed';
  error?: string;
}

export class TestPc {
  readonly id: string;
  readonly mac: string;
  readonly loop: Loop;

  private constructor(id: string, mac: string, loop: Loop) {
    this.id = id;
    this.mac = mac;
    this.loop = loop;
  }

  static async create(t: ExecutionContext, id: string, mac: string, diskMiB = 2048): Promise<TestPc> {
    return new TestPc(id, mac, await createLoop(t, diskMiB * MiB, 512));
  }

  /** One network boot; throws when the server has nothing pending for this PC. */
  async boot(ts: TestServer): Promise<PcRunOutcome> {
    const config = await readBootConfig(ts, this.mac, null);
    const job = parseNetbootConfig(config);
    if (!job) throw new Error(`${this.id} got no netboot config:\n${config}`);
    const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/ui/helpers/pc-run.ts'), this.loop.path, ts.url, job.token, this.loop.dir]);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as PcRunOutcome;
  }
}
