// Builds root filesystems with mmdebstrap into the depot, one at a time (2-core servers), with
// progress, and answers at once when the depot already holds the entry for the same inputs.
// The artefact is an ext4 file system (mke2fs -d of mmdebstrap's tree, no journal) in the imaging
// engine's chunked format: image.pcl.zst + chunks.json + metadata.json, the same three files as a
// golden image. Each PC writes it with the restore engine, then gives it its own UUID and grows it
// to its partition (why not a tar stream: docs/linux-install.md "Artefact").
import { randomUUID } from 'node:crypto';
import { access, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NetimageError } from '../../lib/errors.ts';
import { GOLDEN_FILES } from '../../lib/golden.ts';
import { LANGUAGE_LOCALES } from '../../lib/locales.ts';
import type { Logger } from '../../lib/logger.ts';
import { repoRoot } from '../../lib/paths.ts';
import { execa, run, runAllowFailure } from '../../lib/process.ts';
import { splitLines } from '../../lib/process.ts';
import { aptProxyConf } from '../../lib/apt-proxy.ts';
import { hideUrlPasswords } from '../../lib/redact.ts';
import { removeTree, type Depot, type DepotEntry } from '../depot/depot.ts';
import { entryId } from '../depot/manifest.ts';
import { initialProgress, progressAfter, type ProgressState } from './progress.ts';
import { OS_DEFINITIONS, rootfsEntryName, sourceLine, specHash, type OsImageSpec } from './spec.ts';

/** The image, its chunk index and its metadata: the imaging engine's chunked image folder. */
export const [ROOTFS_IMAGE_FILE, ROOTFS_INDEX_FILE, ROOTFS_METADATA_FILE] = GOLDEN_FILES;
/** zstd level of the chunks: 9 is 7 % smaller than 3 on the wire to every PC, paid once per build (docs/linux-install.md). */
const ZSTD_LEVEL = 9;
/** Free space in the built file system beyond its files: room for the per-PC settings before it is grown. */
export function fileSystemMiB(treeBytes: number): number {
  return Math.ceil((treeBytes * 1.2 + 128 * 1024 * 1024) / (1024 * 1024));
}
/** Lines of build output kept per build (API and CLI show them). */
const MAX_LINES = 2000;

/**
 * Run in the finished tree ($1) before it is packed: no identity of this server or of the
 * build in the image. Each PC makes its own machine-id and SSH host keys; DHCP on every NIC.
 */
export const CUSTOMIZE_SCRIPT = `set -eu
root="$1"
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root"/etc/machine-id
rm -f "$root"/var/lib/dbus/machine-id "$root"/var/lib/systemd/random-seed "$root"/var/lib/systemd/credential.secret
rm -f "$root"/etc/apt/apt.conf.d/99mmdebstrap
printf 'localhost\\n' > "$root"/etc/hostname
# mmdebstrap copies the build host's resolv.conf; the PC asks systemd-resolved (DHCP's DNS).
rm -f "$root"/etc/resolv.conf
ln -s ../run/systemd/resolve/stub-resolv.conf "$root"/etc/resolv.conf
mkdir -p "$root"/etc/systemd/network "$root"/etc/systemd/system/multi-user.target.wants "$root"/etc/systemd/system/ssh.service.wants
printf '[Match]\\nName=en* eth*\\n\\n[Network]\\nDHCP=yes\\n' > "$root"/etc/systemd/network/80-netimage-dhcp.network
cat > "$root"/etc/systemd/system/netimage-ssh-host-keys.service <<'UNIT'
[Unit]
Description=SSH host keys of this PC (the image carries none)
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
UNIT
ln -sf /etc/systemd/system/netimage-ssh-host-keys.service "$root"/etc/systemd/system/ssh.service.wants/
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
# The short-code languages' locales, compiled once here instead of on every PC (lib/locales.ts).
for l in ${Object.values(LANGUAGE_LOCALES).join(' ')}; do
  grep -q "^$l UTF-8" "$root"/etc/locale.gen || { sed -i "s/^# *$l UTF-8/$l UTF-8/" "$root"/etc/locale.gen; grep -q "^$l UTF-8" "$root"/etc/locale.gen || echo "$l UTF-8" >> "$root"/etc/locale.gen; }
done
chroot "$root" locale-gen >/dev/null
`;

/**
 * mmdebstrap's arguments for a spec, writing the tree into the directory `target`; the proxy only
 * as the path of an apt config file (lib/apt-proxy.ts, 0600; mmdebstrap copies it into the chroot's
 * 99mmdebstrap, which CUSTOMIZE_SCRIPT removes before packing), never the URL itself. Pure.
 */
export function mmdebstrapArgs(spec: OsImageSpec, proxyConfigFile: string | null, target: string): string[] {
  const args = [
    '--mode=auto',
    `--variant=${spec.variant}`,
    '--format=directory',
    `--include=${spec.packages.join(',')}`,
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=Acquire::Retries "3"',
    '--verbose',
    `--customize-hook=${CUSTOMIZE_SCRIPT}`,
  ];
  // An existing file given to --aptopt is copied into apt's configuration, not read as an option.
  if (proxyConfigFile) args.push(`--aptopt=${proxyConfigFile}`);
  // Another vendor's archive is signed with its own keys (Debian's package ubuntu-keyring).
  const keyring = OS_DEFINITIONS[spec.os]?.keyring;
  if (keyring) args.push(`--keyring=${keyring}`);
  return [...args, spec.suite, target, ...spec.sources.map(sourceLine)];
}

export type BuildState = 'queued' | 'running' | 'done' | 'failed';

export interface OsBuild {
  id: string;
  os: string;
  entryId: string;
  inputHash: string;
  state: BuildState;
  percent: number;
  /** true when the depot already had the entry: nothing was built. */
  cached: boolean;
  lines: string[];
  error: string | null;
  started: string;
  finished: string | null;
  /** Wall seconds of the build (not of a cache hit). */
  seconds: number | null;
  bytes: number | null;
}

export interface BuildRequest {
  spec: OsImageSpec;
  proxy: string | null;
  /** Remove a cached entry and build again (picks up mirror updates). */
  rebuild?: boolean;
}

export class OsImageBuilder {
  private readonly depot: Depot;
  private readonly log: Logger;
  private readonly builds = new Map<string, OsBuild>();
  private readonly done = new Map<string, Promise<OsBuild>>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Server stop: running builds are ended (SIGTERM: mmdebstrap unmounts and removes its chroot). */
  private readonly stopping = new AbortController();
  private readonly finishedListeners: ((build: OsBuild) => void)[] = [];

  constructor(options: { depot: Depot; log: Logger }) {
    this.depot = options.depot;
    this.log = options.log;
  }

  /** Told about every build that ran to its end, done or failed (not about cache hits). */
  onFinished(listener: (build: OsBuild) => void): void {
    this.finishedListeners.push(listener);
  }

  /** The newest build of a depot entry since the server started, or null. */
  latestOf(entryIdOfBuild: string): OsBuild | null {
    return this.list().filter((b) => b.entryId === entryIdOfBuild).at(-1) ?? null;
  }

  /** End a running build and refuse new ones; resolves when the queue is idle. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.queue.catch(() => undefined);
  }

  get(id: string): OsBuild | null {
    return this.builds.get(id) ?? null;
  }

  list(): OsBuild[] {
    return [...this.builds.values()].sort((a, b) => a.started.localeCompare(b.started));
  }

  /** Resolves when the build ends (done or failed); never rejects. */
  wait(id: string): Promise<OsBuild> {
    return this.done.get(id) ?? Promise.reject(new Error(`no build ${id}`));
  }

  /** The entry of a spec if it is in the depot. */
  async cached(spec: OsImageSpec): Promise<DepotEntry | null> {
    return this.depot.get('rootfs', rootfsEntryName(spec));
  }

  /**
   * Start (or join) the build of a spec. A spec whose entry is in the depot yields a finished
   * build marked cached; a spec being built already yields that build.
   */
  async ensure(request: BuildRequest): Promise<OsBuild> {
    const name = rootfsEntryName(request.spec);
    const running = [...this.builds.values()].find((b) => b.entryId === entryId('rootfs', name) && (b.state === 'queued' || b.state === 'running'));
    if (running) return running;
    const base = { id: randomUUID(), os: request.spec.os, entryId: entryId('rootfs', name), inputHash: specHash(request.spec), lines: [], error: null, started: new Date().toISOString() };
    if (request.rebuild && (await this.depot.get('rootfs', name))) await this.depot.remove('rootfs', name);
    const existing = await this.depot.get('rootfs', name);
    if (existing) {
      const build: OsBuild = { ...base, state: 'done', percent: 100, cached: true, finished: base.started, seconds: null, bytes: existing.manifest.files.reduce((s, f) => s + f.size, 0) };
      this.builds.set(build.id, build);
      this.done.set(build.id, Promise.resolve(build));
      return build;
    }
    if (this.stopping.signal.aborted) throw new Error('the server is stopping: no new builds');
    const build: OsBuild = { ...base, state: 'queued', percent: 0, cached: false, finished: null, seconds: null, bytes: null };
    this.builds.set(build.id, build);
    const finished = this.queue.then(() => this.run(build, request));
    this.queue = finished;
    this.done.set(build.id, finished);
    return build;
  }

  private addLine(build: OsBuild, line: string): void {
    // apt may name the proxy in an error; the lines go to the API, the CLI and the error message.
    build.lines.push(hideUrlPasswords(line));
    if (build.lines.length > MAX_LINES) build.lines.splice(0, build.lines.length - MAX_LINES);
  }

  private async run(build: OsBuild, request: BuildRequest): Promise<OsBuild> {
    const name = rootfsEntryName(request.spec);
    const started = Date.now();
    build.state = 'running';
    this.log.info({ build: build.id, entry: build.entryId, packages: request.spec.packages.length }, 'root filesystem build started');
    let scratch: string | null = null;
    try {
      const keyring = OS_DEFINITIONS[request.spec.os]?.keyring;
      if (keyring && !(await access(keyring).then(() => true, () => false))) {
        throw new Error(`${request.spec.os}: this server has no ${keyring} to check the archive with (install the Debian package ubuntu-keyring)`);
      }
      scratch = await this.depot.scratch('mmdebstrap');
      const tmp = scratch;
      const meta = { spec: request.spec, inputHash: build.inputHash, artefact: 'ext4, chunked image (netimage-image/2)', compression: `zstd -${ZSTD_LEVEL}`, builtWith: 'mmdebstrap, mke2fs -d, partclone' };
      const entry = await this.depot.create('rootfs', name, meta, async (dir) => {
        const tree = join(tmp, 'tree');
        await this.mmdebstrap(build, request, tmp, tree);
        await this.fileSystemImage(build, tree, tmp, dir);
      });
      build.bytes = entry.manifest.files.reduce((s, f) => s + f.size, 0);
      // Finished and timed before it reads as done: a poller never sees done without its time.
      build.finished = new Date().toISOString();
      build.seconds = (Date.now() - started) / 1000;
      build.state = 'done';
      build.percent = 100;
      this.addLine(build, `I: ${build.entryId} is in the depot (${(build.bytes / 1024 / 1024).toFixed(1)} MiB)`);
    } catch (error) {
      build.state = 'failed';
      build.error = (error as Error).message;
      this.addLine(build, `E: ${build.error}`);
      this.log.error({ build: build.id, err: error }, 'root filesystem build failed');
    } finally {
      if (scratch) await removeTree(scratch).catch((error: unknown) => this.log.error({ err: error }, 'build scratch folder not removed'));
      build.finished ??= new Date().toISOString();
      build.seconds ??= (Date.now() - started) / 1000;
      if (build.state === 'done') this.log.info({ build: build.id, entry: build.entryId, seconds: build.seconds, bytes: build.bytes }, 'root filesystem build done');
    }
    for (const listener of this.finishedListeners) {
      try {
        listener(build);
      } catch (error) {
        this.log.error({ err: error, build: build.id }, 'build listener failed');
      }
    }
    return build;
  }

  /** mmdebstrap into `tree`, niced; every output line updates the build's progress (to 85 %). */
  private async mmdebstrap(build: OsBuild, request: BuildRequest, tmpDir: string, tree: string): Promise<void> {
    // TMPDIR: mmdebstrap's chroot lives on the depot's file system, not in a small /tmp.
    const env = { TMPDIR: tmpDir, LC_ALL: 'C.UTF-8' };
    // The proxy (maybe with a password) in a file only root can read, inside the 0700 scratch
    // folder, removed once mmdebstrap is done: never on its command line.
    const proxyConfigFile = request.proxy ? join(tmpDir, 'apt-proxy.conf') : null;
    if (request.proxy && proxyConfigFile) await writeFile(proxyConfigFile, aptProxyConf(request.proxy), { mode: 0o600, flag: 'wx' });
    try {
      await this.runMmdebstrap(build, mmdebstrapArgs(request.spec, proxyConfigFile, tree), env);
    } finally {
      if (proxyConfigFile) await rm(proxyConfigFile, { force: true });
    }
  }

  private async runMmdebstrap(build: OsBuild, args: string[], env: Record<string, string>): Promise<void> {
    const cancelSignal = this.stopping.signal;
    // Its own process group: on stop, apt and dpkg below it get the signal too (mmdebstrap
    // alone would wait for a hanging apt), and mmdebstrap unmounts and removes its chroot.
    const mm = execa('nice', ['-n', '10', 'mmdebstrap', ...args], { stdout: 'ignore', stderr: 'pipe', buffer: false, env, detached: true });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (mm.pid) process.kill(-mm.pid, signal);
      } catch {
        // already gone
      }
    };
    let hardKill: NodeJS.Timeout | null = null;
    const onStop = () => {
      killGroup('SIGTERM');
      hardKill = setTimeout(() => killGroup('SIGKILL'), 30_000);
    };
    cancelSignal.addEventListener('abort', onStop, { once: true });
    let progress: ProgressState = initialProgress();
    const tail: string[] = [];
    const reading = (async () => {
      for await (const line of splitLines(mm.stderr)) {
        progress = progressAfter(progress, line);
        build.percent = Math.floor(progress.percent * 0.85);
        this.addLine(build, line);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      }
    })();
    const [mmResult] = await Promise.allSettled([mm]);
    await reading;
    cancelSignal.removeEventListener('abort', onStop);
    if (hardKill) clearTimeout(hardKill);
    if (cancelSignal.aborted) throw new Error('stopped with the server');
    if (mmResult.status === 'rejected') {
      // The first error says why (mmdebstrap's own last line is only "failed to run").
      const firstError = build.lines.find((l) => /^E: /.test(l));
      throw new Error(`mmdebstrap failed: ${firstError?.slice(3) ?? tail.join(' | ')}`);
    }
  }

  /**
   * The tree as an ext4 file system (no journal: each PC adds its own after growing it), checked,
   * then cut into the chunked image by the imaging engine's own backup code (a process, so the
   * server does not import the engine): the files land in `outDir`.
   */
  private async fileSystemImage(build: OsBuild, tree: string, tmpDir: string, outDir: string): Promise<void> {
    const step = async (percent: number, line: string, fn: () => Promise<unknown>) => {
      build.percent = Math.max(build.percent, percent);
      this.addLine(build, `I: ${line}`);
      if (this.stopping.signal.aborted) throw new Error('stopped with the server');
      await fn();
    };
    const fsFile = join(tmpDir, 'rootfs.ext4');
    const store = join(tmpDir, 'image');
    const treeBytes = Number((await run('du', ['-sxB1', tree])).stdout.split(/\s/)[0]);
    const mib = fileSystemMiB(treeBytes);
    await step(86, `making an ext4 file system of ${mib} MiB from the tree (${(treeBytes / 1048576).toFixed(0)} MiB)`, () =>
      run('nice', ['-n', '10', 'mke2fs', '-q', '-t', 'ext4', '-O', '^has_journal', '-L', 'system', '-d', tree, '-F', fsFile, `${mib}M`]),
    );
    await step(90, 'checking it (e2fsck -fn)', () => run('e2fsck', ['-fn', fsFile]));
    const dev = (await run('losetup', ['-f', '--show', '-r', fsFile])).stdout.trim();
    try {
      await step(92, `cutting it into the chunked image (zstd -${ZSTD_LEVEL})`, async () => {
        await run('mkdir', ['-p', store]);
        const r = await runAllowFailure('nice', ['-n', '10', process.execPath, join(repoRoot, 'imaging/cli.ts'), 'image-device', '--device', dev, '--store', store, '--image', 'rootfs', '--level', String(ZSTD_LEVEL)], {
          maxBuffer: 16 * 1024 * 1024,
        });
        const result = JSON.parse(String(r.stdout).trim().split('\n').pop() || '{}') as { ok?: boolean; error?: string };
        if (!result.ok) throw new Error(`cutting the file system into a chunked image failed: ${result.error ?? String(r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
        const done = String(r.stderr).split('\n').find((l) => l.startsWith('image "rootfs" written'));
        if (done) this.addLine(build, `I: ${done}`);
      });
    } finally {
      for (let i = 0; i < 20 && (await runAllowFailure('losetup', ['-d', dev])).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 250));
    }
    for (const f of GOLDEN_FILES) await rename(join(store, 'rootfs', f), join(outDir, f));
  }
}
