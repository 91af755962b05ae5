// Last-resort cleanup for the harness: synchronous callbacks run when this process exits, also on
// SIGINT/SIGTERM/SIGHUP (Node would otherwise die without running 'exit' handlers). QEMU and
// processes in a lab also carry PR_SET_PDEATHSIG (setpriv), which covers SIGKILL of this process;
// this hook is what removes namespaces and temp files in the catchable cases.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../lib/process.ts';

const callbacks = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const fn of [...callbacks].reverse()) {
    try {
      fn();
    } catch {
      // keep going: this is the last chance for the others
    }
  }
  callbacks.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Only take over a signal nobody else handles, and die by it afterwards as Node would have.
    if (process.listenerCount(signal) > 0) continue;
    const handler = () => {
      runAll();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/** Register a synchronous cleanup; returns a function that unregisters it. */
export function onProcessExit(fn: () => void): () => void {
  install();
  callbacks.add(fn);
  return () => callbacks.delete(fn);
}

/** The PID a harness resource name carries (`...-p<pid>-...`), if any. */
export function ownerPid(name: string): number | undefined {
  const m = /-p(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Remove what a SIGKILLed harness process could not: its lab namespaces (`ni-vm-p<pid>-*`, with
 * the processes left in them) and temp dirs (`netimage-vm-*`, `netimage-refchain-*`), recognised by
 * the dead owner PID in their names. Never touches anything whose owner is alive.
 */
export function sweepStale(): void {
  let namespaces: string[] = [];
  try {
    namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith('ni-vm-'));
  } catch {
    // no ip netns support: nothing to sweep
  }
  for (const ns of namespaces) {
    const pid = ownerPid(`${ns}-`);
    if (pid === undefined || pidAlive(pid)) continue;
    try {
      // Its owner is dead, so whatever still runs in it was left by the harness (dnsmasq drops
      // the parent-death signal when it changes credentials).
      for (const p of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/)) {
        if (/^\d+$/.test(p)) process.kill(Number(p), 'SIGKILL');
      }
      execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    } catch {
      // raced with someone else: fine
    }
  }
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith('netimage-vm-') && !entry.startsWith('netimage-refchain-')) continue;
    const pid = ownerPid(entry);
    if (pid === undefined || pidAlive(pid)) continue;
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}
