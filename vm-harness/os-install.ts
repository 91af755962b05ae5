// Building blocks for the OS install scenarios (test/vm/os-install-*.test.ts): a depot holding
// the cached real Debian root filesystem for the lab server, the mirror stand-in its action checks
// go through, and the installed system's serial console (log in, run a command, power off).
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from './netns.ts';
import type { Match, Vm } from './qemu.ts';
import { repoRoot } from './paths.ts';
import { cachedRootfs } from './rootfs-cache.ts';
import { partitionByLabel, withLoopDisk, withMounted, type Manifest, type ManifestEntry } from './disk-access.ts';
import { bootVm, productStates, type BootOptions, type ProductState } from './classroom.ts';
import type { LabServer } from './lab-server.ts';

/** A depot dir (for NETIMAGE_DEPOT_DIR) with the cached root filesystem entry copied in; removed with the lab. */
export async function labDepot(lab: Lab): Promise<string> {
  const rootfs = await cachedRootfs(45 * 60_000);
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lab-depot-'));
  lab.defer(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'rootfs'), { recursive: true, mode: 0o700 });
  await cp(rootfs.dir, join(dir, 'rootfs', rootfs.name), { recursive: true });
  return dir;
}

/** Start the mirror stand-in in the lab; returns the proxy URL to set as the install's `proxy`. */
export async function startMirrorStandin(lab: Lab, port = 3128): Promise<string> {
  const child = lab.spawn(process.execPath, [join(repoRoot, 'vm-harness/mirror-standin.ts'), lab.serverIp, String(port)]);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    void child.then((r) => reject(new Error(`mirror stand-in exited: ${String(r.stderr)}`)));
  });
  return `http://${lab.serverIp}:${port}`;
}

/** Log in as root on the installed system's serial console; returns the prompt match. */
export async function serialLogin(vm: Vm, password: string, timeoutMs: number, after?: Match | number): Promise<Match> {
  await vm.waitFor(/login: *$/, timeoutMs, after !== undefined ? { after } : {});
  vm.sendSerial('root\n');
  // The install's language (opsi default de) localises the prompt: "Passwort:".
  await vm.waitFor(/Passwor[dt]: *$/, 60_000, { after: vm.lines().length - 1 });
  vm.sendSerial(`${password}\n`);
  await vm.waitFor(/root@[^:]+:~# *$/, 120_000, { after: vm.lines().length - 1 });
  // A wide terminal: typed commands then come back on one line.
  vm.sendSerial('stty cols 250\n');
  return vm.waitFor(/root@[^:]+:~# *$/, 60_000, { after: vm.lines().length - 1 });
}

/**
 * Run a shell command at the root prompt; returns its output lines. The output is what lies between
 * a begin and an end line the shell prints (the typed command's echo, however the terminal wraps
 * it, never equals them).
 */
export async function serialRun(vm: Vm, command: string, timeoutMs = 120_000): Promise<string[]> {
  const id = Math.random().toString(36).slice(2, 8);
  const from = vm.lines().length;
  vm.sendSerial(`echo NI-BEGIN-${id}; ${command}; echo NI-END-${id}-$?\n`);
  const begin = await vm.waitFor(new RegExp(`^NI-BEGIN-${id}\\s*$`), timeoutMs, { after: from });
  const end = await vm.waitFor(new RegExp(`^NI-END-${id}-\\d+\\s*$`), timeoutMs, { after: begin });
  return vm.lines().slice(begin.index + 1, end.index).map((l) => l.text.trim());
}

/** sha256 of the installed system's files under `dirs` (relative to its root), from the stopped VM's disk. */
export async function installedManifest(image: string, dirs: string[] = ['boot', 'usr/bin', 'usr/sbin', 'usr/lib/shim', 'etc/fstab', 'etc/hostname']): Promise<Manifest> {
  return withLoopDisk(image, (_loop, parts) =>
    withMounted(partitionByLabel(parts, 'system'), 'ro', async (root) => {
      const files: ManifestEntry[] = [];
      const walk = async (rel: string): Promise<void> => {
        const st = await lstat(join(root, rel));
        if (st.isDirectory()) for (const e of (await readdir(join(root, rel))).sort()) await walk(join(rel, e));
        else if (st.isFile()) files.push({ path: rel, size: st.size, sha256: createHash('sha256').update(await readFile(join(root, rel))).digest('hex') });
      };
      for (const d of dirs) await walk(d);
      return { files, totalBytes: files.reduce((s, f) => s + f.size, 0) };
    }),
  );
}

/** Whether a file exists in the installed system on the stopped VM's disk. */
export async function fileOnDisk(image: string, path: string): Promise<string | null> {
  return withLoopDisk(image, (_loop, parts) => withMounted(partitionByLabel(parts, 'system'), 'ro', (root) => readFile(join(root, path), 'utf8').catch(() => null)));
}

/** Power the installed system off from its root prompt; QEMU is stopped either way. */
export async function powerOff(vm: Vm): Promise<void> {
  vm.sendSerial('systemctl poweroff\n');
  await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 120_000))]);
  await vm.stop();
}

/** Poll the server until the installed system's first-boot report made the product installed (or the deadline). */
export async function awaitFirstBootReport(server: LabServer, clientId: string, productId: string, timeoutMs: number): Promise<Record<string, ProductState>> {
  const deadline = Date.now() + timeoutMs;
  let states = await productStates(server, clientId);
  while (states[productId]?.installationStatus !== 'installed' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    states = await productStates(server, clientId);
  }
  return states;
}

/**
 * Boot the PC with nothing pending (the server's local-boot config starts the installed system),
 * log in as root, run `fn` at the prompt, power off. The VM is stopped whatever happens.
 */
export async function withInstalledSystem<T>(lab: Lab, boot: BootOptions, password: string, fn: (vm: Vm) => Promise<T>): Promise<T> {
  const vm = await bootVm(lab, boot);
  try {
    await serialLogin(vm, password, 8 * 60_000);
    const out = await fn(vm);
    await powerOff(vm);
    return out;
  } finally {
    await vm.stop();
  }
}
