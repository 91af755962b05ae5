// CPU time of a server and every process it forks, exited ones included: a cgroup-v1 cpuacct
// group per server (our native sender and in.tftpd fork a process per transfer, and in.tftpd's
// children are reaped in a way that never reaches the parent's cutime, so /proc/<pid>/stat
// undercounts). Falls back to the /proc tree (live descendants + reaped children's cutime) where
// no cpuacct hierarchy is writable. Groups are created by the bench and removed by it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const CPUACCT = '/sys/fs/cgroup/cpuacct';

export interface CpuGroup {
  /** argv prefix that puts the command into the group before it starts. */
  wrap(cmd: string[]): string[];
  /** Move a running process and its descendants into the group (what they fork later follows). */
  add(pid: number): Promise<void>;
  /** The group's CPU seconds so far; `pid` is used by the /proc fallback. */
  seconds(pid?: number): Promise<number>;
  remove(): Promise<void>;
}

export async function procTreeCpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let total = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
  let kids: string[] = [];
  try {
    kids = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
  } catch {
    // gone
  }
  for (const kid of kids) total += await procTreeCpuSeconds(Number(kid));
  return total;
}

export async function cpuGroup(name: string): Promise<CpuGroup> {
  const dir = path.join(CPUACCT, `netimage-bench-${name}-${process.pid}`);
  try {
    if (!existsSync(CPUACCT)) throw new Error('no cpuacct');
    await mkdir(dir);
    await readFile(path.join(dir, 'cpuacct.usage'), 'utf8');
  } catch {
    return {
      wrap: (cmd) => cmd,
      add: () => Promise.resolve(),
      seconds: (pid) => procTreeCpuSeconds(pid),
      remove: () => Promise.resolve(),
    };
  }
  return {
    wrap: (cmd) => ['sh', '-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec "$@"`, 'sh', ...cmd],
    add: async function add(pid: number): Promise<void> {
      await writeFile(path.join(dir, 'cgroup.procs'), String(pid));
      const kids = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
      for (const kid of kids) await add(Number(kid));
    },
    seconds: async () => Number((await readFile(path.join(dir, 'cpuacct.usage'), 'utf8')).trim()) / 1e9,
    async remove() {
      // Processes still inside (should be none after the bench stopped them) go back to the root.
      const left = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
      for (const pid of left) await writeFile(path.join(CPUACCT, 'cgroup.procs'), pid).catch(() => undefined);
      await rmdir(dir).catch(() => undefined);
    },
  };
}
