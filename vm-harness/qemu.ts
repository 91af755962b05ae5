// QEMU launcher for the VM harness: one TCG machine with chosen firmware, disks and network,
// its serial console captured line by line with timestamps (ms since launch).
// Facts this follows (shared/notes/pxe-chain.md): KVM fails under OVMF here, so TCG; each VM needs
// its own copy of OVMF_VARS; the default iPXE EFI ROM costs ~25 s on UEFI, so `romfile=` there;
// BIOS keeps the iPXE ROM (it is the PXE stack) and needs `sercon-port` to show on serial.
import { mkdtemp, mkdir, rm, copyFile, writeFile, appendFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { execa, run } from '../lib/process.ts';
import type { ResultPromise } from 'execa';
import { onProcessExit } from './cleanup.ts';
import type { Firmware } from '../lib/firmware.ts';
import { collectOutput, type ChildOutput } from './child-output.ts';
import { openSerialPipe } from './serial-pipe.ts';

/** A VM's firmware: a PC's firmware, and UEFI also with Secure Boot enforced (Microsoft keys enrolled). */
export type VmFirmware = Firmware | 'uefi-secureboot';

export interface DiskSpec {
  /** Size for a fresh disk, e.g. '8G'. Ignored when `path` is given. */
  size?: string;
  /**
   * Image format (default qcow2). 'raw' (sparse) lets the host loop-attach the disk of a stopped
   * VM (`losetup -P`) to check or change what the guest wrote.
   */
  format?: 'qcow2' | 'raw';
  /** Use this existing image (kept on stop: a later VM can boot the same disk). */
  path?: string;
  bus?: 'virtio' | 'nvme';
  /** Disk serial number as the guest sees it. */
  serial?: string;
}

export interface GuestForward {
  /** Address:port the guest connects to (inside QEMU's user network, e.g. 10.0.2.100:8080). */
  guestAddr: string;
  guestPort: number;
  /** Where QEMU connects on the host side (loopback only). */
  hostAddr: string;
  hostPort: number;
}

export type NetworkSpec =
  /** A tap that already exists (in `netns` when that is set). */
  | { kind: 'tap'; ifname: string }
  /** QEMU user networking, restricted: the guest reaches only the forwards listed. */
  | { kind: 'user'; forwards?: GuestForward[]; tftpRoot?: string; bootfile?: string }
  | { kind: 'none' };

export interface VmOptions {
  name?: string;
  firmware?: VmFirmware;
  /** MiB, default 1024. */
  memory?: number;
  cpus?: number;
  /** aa:bb:cc:dd:ee:ff; default a random 52:54:00:xx:xx:xx. */
  mac?: string;
  /** SMBIOS type 1 UUID (canonical form); default random. */
  uuid?: string;
  /** SMBIOS type 1 serial number. */
  serial?: string;
  disks?: DiskSpec[];
  network?: NetworkSpec;
  /** Run QEMU inside this network namespace (needed to open taps that live there). */
  netns?: string;
  /** Direct kernel boot instead of firmware network boot. */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** Exit instead of rebooting (guest reboot = QEMU exits). */
  noReboot?: boolean;
  /** Also write the timestamped serial log here (kept after stop). */
  logFile?: string;
  /** Extra raw QEMU arguments, appended last. */
  extraArgs?: string[];
}

export interface SerialLine {
  /** ms since QEMU was launched. */
  atMs: number;
  text: string;
}

export interface Match {
  line: string;
  match: RegExpMatchArray;
  atMs: number;
  /** Index of the line in lines() (a matched prompt gets the index it will have once complete). */
  index: number;
}

export interface WaitOptions {
  /**
   * Only consider lines after this match, or from this line index on (`vm.lines().length` = only
   * new output). For a second boot of the same VM: the first boot's markers must not count.
   */
  after?: Match | number;
}

export interface Vm {
  readonly name: string;
  readonly pid: number;
  readonly mac: string;
  readonly uuid: string;
  readonly firmware: VmFirmware;
  /** Disk image paths in the order given (fresh ones are deleted on stop). */
  readonly diskPaths: string[];
  /** The exact argv QEMU was started with (for debugging). */
  readonly argv: string[];
  /** Resolves on the first serial line (seen so far or later) matching; rejects with the log tail on timeout or exit. */
  waitFor(pattern: RegExp | string, timeoutMs: number, options?: WaitOptions): Promise<Match>;
  /** All serial lines so far (ANSI escapes removed). */
  lines(): SerialLine[];
  /** The timestamped serial log as text. */
  serialLog(): string;
  /** The last n lines of the log, for failure messages. */
  tail(n?: number): string;
  /** Type into the serial console. */
  sendSerial(text: string): void;
  /** Resolves with QEMU's exit code (or signal name) when it has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after graceMs; removes temp files. Safe to call twice. */
  stop(options?: { graceMs?: number; signal?: NodeJS.Signals }): Promise<void>;
}

const OVMF_DIR = '/usr/share/OVMF';
const QEMU = 'qemu-system-x86_64';
const PARTIAL_LINE_IDLE_MS = 300;

export function randomMac(): string {
  const b = randomBytes(3);
  return `52:54:00:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

// Strips CSI/OSC escape sequences that OVMF and grub write to the serial console.
const ANSI = /\x1b\[[0-9;?=<>]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-B]|\x1b[=>78c]/g;
export function cleanSerialText(text: string): string {
  return text.replace(ANSI, '').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '');
}

/** Build the QEMU argv for the options (pure apart from the paths it is given). */
export function qemuArgs(
  o: Required<Pick<VmOptions, 'firmware' | 'memory' | 'cpus' | 'mac' | 'uuid'>> & VmOptions,
  paths: { varsFile?: string; disks: { path: string; bus: 'virtio' | 'nvme'; serial: string; format?: 'qcow2' | 'raw' }[]; serconFile?: string },
): string[] {
  const args: string[] = ['-name', o.name ?? 'vm', '-accel', 'tcg', '-m', String(o.memory), '-smp', String(o.cpus)];
  // QEMU's default TCG CPU (qemu64) has no RDRAND; NETIMAGE_VM_CPU (e.g. qemu64,+rdrand) gives the
  // VM a CPU model like a real PC's, whose kernel then has its random pool at boot.
  const cpu = process.env['NETIMAGE_VM_CPU'];
  if (cpu) args.push('-cpu', cpu);
  const uefi = o.firmware !== 'bios';
  if (o.firmware === 'uefi-secureboot') {
    args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
  } else {
    args.push('-machine', 'q35');
  }
  if (uefi) {
    const code = o.firmware === 'uefi-secureboot' ? 'OVMF_CODE_4M.ms.fd' : 'OVMF_CODE_4M.fd';
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${join(OVMF_DIR, code)}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${paths.varsFile}`);
  } else if (paths.serconFile) {
    args.push('-fw_cfg', `name=etc/sercon-port,file=${paths.serconFile}`);
  }
  const smbios = [`type=1`, `uuid=${o.uuid}`];
  if (o.serial) smbios.push(`serial=${o.serial}`);
  args.push('-smbios', smbios.join(','));
  // Network boot first (as a classroom PC is set up), then the disks.
  const net = o.network ?? { kind: 'none' };
  const netBoot = net.kind !== 'none' && !o.kernel;
  let bootIndex = 1;
  if (net.kind !== 'none') {
    if (net.kind === 'tap') {
      args.push('-netdev', `tap,id=n0,ifname=${net.ifname},script=no,downscript=no`);
    } else {
      const parts = ['user', 'id=n0', 'restrict=on'];
      if (net.tftpRoot) parts.push(`tftp=${net.tftpRoot}`);
      if (net.bootfile) parts.push(`bootfile=${net.bootfile}`);
      for (const f of net.forwards ?? []) {
        parts.push(`guestfwd=tcp:${f.guestAddr}:${f.guestPort}-tcp:${f.hostAddr}:${f.hostPort}`);
      }
      args.push('-netdev', parts.join(','));
    }
    const nic = ['virtio-net-pci', 'netdev=n0', `mac=${o.mac}`];
    if (uefi) nic.push('romfile=');
    if (netBoot && uefi) nic.push(`bootindex=${bootIndex++}`);
    args.push('-device', nic.join(','));
  } else {
    args.push('-nic', 'none');
  }
  if (netBoot && !uefi) args.push('-boot', 'n');
  paths.disks.forEach((d, i) => {
    args.push('-drive', `file=${d.path},if=none,id=d${i},format=${d.format ?? 'qcow2'},cache=unsafe`);
    const dev = d.bus === 'nvme' ? `nvme,drive=d${i},serial=${d.serial}` : `virtio-blk-pci,drive=d${i},serial=${d.serial}`;
    args.push('-device', uefi ? `${dev},bootindex=${bootIndex++}` : dev);
  });
  if (o.kernel) {
    args.push('-kernel', o.kernel);
    if (o.initrd) args.push('-initrd', o.initrd);
    if (o.append) args.push('-append', o.append);
  }
  if (o.noReboot) args.push('-no-reboot');
  args.push('-display', 'none', '-monitor', 'none', '-serial', 'stdio');
  args.push(...(o.extraArgs ?? []));
  return args;
}

/** Start one VM. The caller must `stop()` it (tests: in t.teardown). */
export async function startVm(options: VmOptions = {}): Promise<Vm> {
  const firmware = options.firmware ?? 'uefi';
  const name = options.name ?? `vm-${randomBytes(3).toString('hex')}`;
  const mac = (options.mac ?? randomMac()).toLowerCase();
  const uuid = (options.uuid ?? randomUUID()).toLowerCase();
  const workDir = await mkdtemp(join(tmpdir(), `netimage-vm-p${process.pid}-${name}-`));
  const cleanupPaths: string[] = [workDir];
  try {
    let varsFile: string | undefined;
    if (firmware !== 'bios') {
      varsFile = join(workDir, 'OVMF_VARS.fd');
      await copyFile(join(OVMF_DIR, firmware === 'uefi-secureboot' ? 'OVMF_VARS_4M.ms.fd' : 'OVMF_VARS_4M.fd'), varsFile);
    }
    let serconFile: string | undefined;
    if (firmware === 'bios') {
      serconFile = join(workDir, 'sercon-port');
      await writeFile(serconFile, Buffer.from([0xf8, 0x03])); // COM1 = 0x3f8, little-endian
    }
    const disks: { path: string; bus: 'virtio' | 'nvme'; serial: string; format: 'qcow2' | 'raw' }[] = [];
    for (const [i, d] of (options.disks ?? []).entries()) {
      let path = d.path;
      if (!path) {
        path = join(workDir, `disk${i}.${d.format ?? 'qcow2'}`);
        await run('qemu-img', ['create', '-q', '-f', d.format ?? 'qcow2', path, d.size ?? '8G']);
      }
      disks.push({ path, format: d.format ?? 'qcow2', bus: d.bus ?? 'virtio', serial: d.serial ?? `NI${name.replace(/[^A-Za-z0-9]/g, '').slice(0, 10)}D${i}` });
    }
    const args = qemuArgs(
      { ...options, name, firmware, mac, uuid, memory: options.memory ?? 1024, cpus: options.cpus ?? 1 },
      { varsFile, disks, serconFile },
    );
    // pdeathsig: QEMU dies with this process even on SIGKILL of the test worker.
    const launcher = ['setpriv', '--pdeathsig', 'KILL', '--', QEMU, ...args];
    const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, ...launcher] : launcher;
    const serial = await openSerialPipe(join(workDir, 'serial'));
    const startedAt = performance.now();
    let child: ResultPromise;
    try {
      child = execa(argv[0]!, argv.slice(1), {
        stdin: 'pipe',
        // execa hands an object with an `fd` to node:child_process as is (its runtime checks for
        // file handles); its types do not list them. Typed as 'ignore': like it, no stream here.
        stdout: serial.childEnd as unknown as 'ignore',
        stderr: 'pipe',
        buffer: false,
        reject: false,
        cleanup: true,
      });
    } finally {
      await serial.parentDone();
    }
    if (child.pid === undefined) {
      serial.output.destroy();
      throw new Error(`could not start ${QEMU}`);
    }
    return attach({ name, firmware, mac, uuid, child, serial: serial.output, argv, startedAt, workDir, cleanupPaths, disks, logFile: options.logFile ?? (await keptLogFile(name)) });
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}

interface AttachArgs {
  name: string;
  firmware: VmFirmware;
  mac: string;
  uuid: string;
  child: ResultPromise;
  /** QEMU's stdout, the serial console (read from its FIFO). */
  serial: NodeJS.ReadableStream;
  argv: string[];
  startedAt: number;
  workDir: string;
  cleanupPaths: string[];
  disks: { path: string }[];
  logFile: string | undefined;
}

/** Append every completed serial line to `file` (timestamped), in order; `flushed` resolves when written. */
/**
 * NETIMAGE_VM_LOG_DIR (set by the test command for the VM pass): every VM's whole serial log (and
 * every lab server's log) is kept there, so a failure seen once in CI can be read in full, not only its tail.
 */
export async function keptLogFile(name: string): Promise<string | undefined> {
  const dir = process.env.NETIMAGE_VM_LOG_DIR;
  if (!dir) return undefined;
  await mkdir(dir, { recursive: true });
  return join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}-${Date.now()}.log`);
}

function serialLogFile(output: ChildOutput, file: string | undefined): { flushed(): Promise<void> } {
  if (!file) return { flushed: () => Promise.resolve() };
  let writes: Promise<void> = writeFile(file, '');
  output.onLine((line, _index, complete) => {
    if (complete) writes = writes.then(() => appendFile(file, formatSerialLine(line) + '\n')).catch(() => undefined);
  });
  return { flushed: () => writes };
}

/** The last 8000 characters of QEMU's stderr, for failure messages. */
function stderrTail(child: ResultPromise): () => string {
  let text = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-8000);
  });
  return () => text;
}

function formatSerialLine(l: SerialLine): string {
  return `[${(l.atMs / 1000).toFixed(3).padStart(8)}] ${l.text}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Where waitFor starts looking: after a previous match, or from a line index. */
function firstIndex(after: WaitOptions['after']): number {
  if (after === undefined) return 0;
  return typeof after === 'number' ? after : after.index + 1;
}

/** The first line from `fromIndex` on matching `regex`, or the quiet partial line (a prompt). */
function findMatch(output: ChildOutput, regex: RegExp, fromIndex: number): Match | null {
  const lines = output.lines();
  for (let i = fromIndex; i < lines.length; i++) {
    const m = lines[i]!.text.match(regex);
    if (m) return { line: lines[i]!.text, match: m, atMs: lines[i]!.atMs, index: i };
  }
  const partial = output.partial();
  const m = partial?.quiet ? partial.text.match(regex) : null;
  return m ? { line: partial!.text, match: m, atMs: partial!.atMs, index: lines.length } : null;
}

/**
 * Resolve on the first serial line from `fromIndex` on matching `regex` (seen so far or later);
 * reject after `timeoutMs`, or when QEMU exits without a matching last line.
 */
function waitForSerial(
  output: ChildOutput,
  exited: Promise<number | string>,
  regex: RegExp,
  timeoutMs: number,
  fromIndex: number,
  describe: (why: string) => Error,
): Promise<Match> {
  const found = findMatch(output, regex, fromIndex);
  if (found) return Promise.resolve(found);
  return new Promise<Match>((resolve, reject) => {
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearTimeout(timer);
      done();
    };
    const unsubscribe = output.onLine((line, index) => {
      const m = index >= fromIndex ? line.text.match(regex) : null;
      if (m) settle(() => resolve({ line: line.text, match: m, atMs: line.atMs, index }));
    });
    const timer = setTimeout(() => settle(() => reject(describe(`timeout after ${timeoutMs} ms`))), timeoutMs);
    // The last line is added before `exited` resolves, so a final line that matches wins over the exit.
    void exited.then((value) => settle(() => reject(describe(`QEMU exited (${String(value)})`))));
  });
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const FIRMWARE_PROGRESS = /^\s*Downloading\.\.\.\d+%$/;
/** Lines saying which way a boot went: firmware boot entries, PXE results and errors, grub, the boot image. */
const BOOT_MARKERS = /BdsDxe|PXE-E|>>Start|Station IP|NBP file|Welcome to GRUB|netimage:|agent/;

/** The Vm over a started QEMU child: serial console lines, waits, serial input, stop. */
function attach(a: AttachArgs): Vm {
  const { child } = a;
  const pid = child.pid!;
  const output = collectOutput(child, { startedAt: a.startedAt, streams: ['stdout'], from: { stdout: a.serial }, encoding: 'latin1', clean: cleanSerialText, quietMs: PARTIAL_LINE_IDLE_MS });
  const logFile = serialLogFile(output, a.logFile);
  const stderrText = stderrTail(child);
  // A VM still running is killed synchronously if this process exits without stopping it.
  const unregister = onProcessExit(() => {
    killQuietly(pid, 'SIGKILL');
    rmSync(a.workDir, { recursive: true, force: true });
  });
  let exitedValue: number | string | undefined;
  const exited = (async () => {
    const result = await child;
    // The last serial line is added once stdout closes; bounded, in case something QEMU started
    // still holds the pipe open.
    await Promise.race([output.ended, new Promise((r) => setTimeout(r, 1000).unref())]);
    unregister();
    exitedValue = result.signal ?? result.exitCode ?? -1;
    return exitedValue;
  })();

  const lines = (): SerialLine[] => output.lines();
  const tail = (n = 40) => {
    // OVMF's HTTP boot prints a line per percent: only the last of such a run is kept, or it fills
    // a whole tail (a CI failure showed 60 of them and nothing else).
    const all = lines().filter((l, i, a) => !(FIRMWARE_PROGRESS.test(l.text) && FIRMWARE_PROGRESS.test(a[i + 1]?.text ?? '')));
    // The firmware's boot path and the boot image's own markers from before the tail say how far
    // the boot got even when the tail is all kernel noise (and a report shortens long messages from the end).
    const markers = all.slice(0, -n).filter((l) => BOOT_MARKERS.test(l.text)).slice(-12);
    const head = markers.length ? `[markers before the tail]\n${markers.map(formatSerialLine).join('\n')}\n[tail]\n` : '';
    const body = head + all.slice(-n).map(formatSerialLine).join('\n');
    const pending = output.partial();
    const partial = pending ? `\n[partial] ${pending.text}` : '';
    const err = stderrText().trim() ? `\n[qemu stderr] ${stderrText().trim().split('\n').slice(-5).join('\n')}` : '';
    return body + partial + err;
  };

  let stopped = false;
  const stop = async (options: { graceMs?: number; signal?: NodeJS.Signals } = {}) => {
    if (stopped) {
      await exited.catch(() => undefined);
      return;
    }
    stopped = true;
    if (exitedValue === undefined) {
      killQuietly(pid, options.signal ?? 'SIGTERM');
      const timer = setTimeout(() => killQuietly(pid, 'SIGKILL'), options.graceMs ?? 3000);
      await exited.catch(() => undefined);
      clearTimeout(timer);
    }
    await logFile.flushed();
    // Fresh disks live in workDir; disks passed by path are the caller's.
    for (const p of a.cleanupPaths) await rm(p, { recursive: true, force: true });
  };

  return {
    name: a.name,
    pid,
    mac: a.mac,
    uuid: a.uuid,
    firmware: a.firmware,
    diskPaths: a.disks.map((d) => d.path),
    argv: a.argv,
    exited,
    lines,
    serialLog: () => lines().map(formatSerialLine).join('\n'),
    tail,
    sendSerial(text: string) {
      child.stdin?.write(text);
    },
    waitFor(pattern, timeoutMs, options = {}) {
      const regex = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern;
      const describe = (why: string) => new Error(`${a.name}: ${why} waiting for ${regex} (at ${Math.round(performance.now() - a.startedAt)} ms). Serial log tail:\n${tail()}`);
      return waitForSerial(output, exited, regex, timeoutMs, firstIndex(options.after), describe);
    },
    stop,
  };
}
