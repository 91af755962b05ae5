// `netimage depot ls|show|verify|rm`: the server's depot (bootserver/depot/), through the admin API.
// `netimage depot import <product> <iso-or-dir> [--part P]`: Windows media into the depot. It runs
// on the server machine and writes the depot folder directly (from the config, like `store
// migrate`), not through the API: the ISO is already on this machine, so an upload would copy
// gigabytes over loopback for nothing, and the one code path (bootserver/depot/windows-media.ts)
// writes through the depot's atomic staging either way, so the running server sees the new
// version appear whole. Run it as the user the server runs as (the depot is 0700).
import { displayZone, showTime } from '../time.ts';
import type { CommandGroup, CommandContext } from '../command.ts';
import { UsageError } from '../command.ts';
import { table } from '../format.ts';
import { DEPOT_KINDS } from '../../depot/manifest.ts';
import type { GoldenImageFacts } from '../../depot/golden-upload.ts';
import { formatBytes } from '../../../lib/bytes.ts';

interface EntryView {
  id: string;
  kind: string;
  created: string;
  bytes: number;
  files: { path: string; size: number }[];
  meta: {
    editions?: { index: number; name: string }[];
    importedFrom?: Record<string, string>;
    capturedFrom?: string;
    product?: string;
    /** Golden images (bootserver/depot/golden-upload.ts): the image's own name and filesystem. */
    image?: string;
    fsType?: string;
    imageCreated?: string;
    job?: string;
  };
  /** GET /api/v1/depot/:kind/:name only: who needs it, its last verify, a golden image's facts. */
  usedBy?: { clients: string[]; schedules: string[] };
  verified?: { at: string; ok: boolean; problems: string[] } | null;
  image?: GoldenImageFacts | null;
}

export const mib = (bytes: number | null) => (bytes === null ? '-' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** "rootfs/debian-12-…" as the API path of an entry; anything else is a usage error. */
function entryPath(ctx: CommandContext, verb: string): string {
  const [id] = ctx.operands(verb, 1);
  const kind = id.split('/')[0]!;
  if (id.includes('/') && !(DEPOT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`"${kind}" is not a depot kind (${DEPOT_KINDS.join(', ')}); ${ctx.usage(verb).message}`);
  if (!/^[a-z-]+\/[a-z0-9][a-z0-9._-]*$/.test(id)) throw ctx.usage(verb);
  return id;
}

/** Top-level folders of an entry with their sizes: the parts of Windows media. */
function parts(e: EntryView): [string, number][] {
  const sizes = new Map<string, number>();
  for (const f of e.files) if (f.path.includes('/')) sizes.set(f.path.split('/')[0]!, (sizes.get(f.path.split('/')[0]!) ?? 0) + f.size);
  return [...sizes];
}

/** One line on what an entry holds: parts and editions (Windows media, WIMs). */
function content(e: EntryView): string {
  const bits: string[] = [];
  if (e.kind === 'windows-media') bits.push(parts(e).map(([p]) => p).join(',') || 'empty');
  if (e.meta.editions) bits.push(`${e.meta.editions.length} edition(s)`);
  if (e.kind === 'golden' && e.meta.image) bits.push(`image ${e.meta.image} (${e.meta.fsType ?? '?'})${e.meta.capturedFrom ? ` from ${e.meta.capturedFrom}` : ''}`);
  return bits.join('; ');
}

/** Who needs the entry and when it was last re-hashed: what an admin asks before `depot rm`. */
function useAndCheckLines(e: EntryView, zone: string): string[] {
  const lines: string[] = [];
  if (e.usedBy) {
    const { clients, schedules } = e.usedBy;
    const who = [clients.length ? `the pending action of ${clients.join(', ')}` : '', schedules.length ? `schedule(s) ${schedules.join(', ')}` : ''].filter(Boolean);
    lines.push(`  needed by   ${who.length ? who.join('; ') : 'no pending action or schedule'}`);
  }
  if (e.verified !== undefined) {
    const v = e.verified;
    lines.push(
      `  verified    ${v === null ? `never since it was stored (netimage depot verify ${e.id} re-hashes every file)` : v.ok ? `${showTime(v.at, zone)}: every file matches its sha256` : `${showTime(v.at, zone)}: DAMAGED (${v.problems.join('; ')})`}`,
    );
  }
  return lines;
}

function goldenLines(e: EntryView, zone: string): string[] {
  const name = e.id.split('/')[1]!;
  const i = e.image;
  const imageFile = e.files.find((f) => f.path === 'image.pcl.zst');
  if (!i) return [`  image       ${e.meta.image ?? name}: its metadata.json cannot be read (netimage depot verify ${e.id})`];
  return [
    `  image       ${i.name}, ${i.fsType}, made ${showTime(i.createdAt, zone) ?? '?'}${e.meta.capturedFrom ? ` on ${e.meta.capturedFrom}` : ''}${e.meta.job ? ` (backup job ${e.meta.job.slice(0, 8)})` : ''}`,
    `  partition   ${formatBytes(i.partitionSizeBytes)} with ${formatBytes(i.usedBytes)} used: a PC's system partition must be at least ${formatBytes(i.partitionSizeBytes)}`,
    `  image file  image.pcl.zst ${imageFile ? formatBytes(imageFile.size) : '?'}, sha256 ${i.sha256}`,
    `  chunks      ${i.chunks} with data, ${i.chunkBlocks} blocks each; ${i.records ? `${i.records}: a delta restore skips unchanged chunks unread` : 'no file-system records: a delta restore compares every chunk'}`,
  ];
}

function showText(e: EntryView, zone: string): string {
  const golden = e.kind === 'golden';
  const lines = [`${e.id}: ${golden ? 'golden image, ' : ''}${mib(e.bytes)} in ${e.files.length} files, ${golden ? 'uploaded' : 'created'} ${showTime(e.created, zone)}`];
  if (golden) lines.push(...goldenLines(e, zone));
  for (const [part, bytes] of parts(e)) lines.push(`  ${part}/  ${mib(bytes)}${e.meta.importedFrom?.[part] ? `  from ${e.meta.importedFrom[part]}` : ''}`);
  if (e.meta.capturedFrom && !golden) lines.push(`  captured from ${e.meta.capturedFrom}`);
  for (const ed of e.meta.editions ?? []) lines.push(`  edition ${ed.index}: ${ed.name}`);
  if (e.kind === 'windows-media' && !e.meta.editions) lines.push('  no editions (no sources/install.wim or install.esd imported yet)');
  lines.push(...useAndCheckLines(e, zone));
  if (golden) {
    const name = e.id.split('/')[1]!;
    lines.push(`  restore it  netimage room restore <room> --server-image ${name}; one PC: netimage action set <pc> opsi-local-image-restore --prop server_image=${name}`);
  }
  return lines.join('\n');
}

export const depotCommand: CommandGroup = {
  name: 'depot',
  section: 'admin',
  usage: [
    { syntax: 'depot ls', summary: 'entries of the depot (root filesystems, Windows media, WIMs, golden images)' },
    { syntax: 'depot show <kind/name>', summary: 'an entry: size, parts, editions; a golden image: its size, sha256, chunks; who needs it; when it was last verified' },
    { syntax: 'depot verify <kind/name>', summary: 're-hash an entry against its manifest' },
    { syntax: 'depot pull <kind/name>', summary: "a site server: fetch an entry from the main server's depot (sha256-checked) and keep it" },
    { syntax: 'depot rm <kind/name>' },
    {
      syntax: 'depot import <product> <iso-or-dir> [--part installfiles|winpe|drivers|custom] [--config FILE]',
      summary: 'Windows media (ISO or folder) into windows-media/<product>; run on the server machine',
    },
  ],
  options: { part: { type: 'string' }, tz: { type: 'string' } },
  async run(ctx) {
    if (ctx.args[0] === 'import') return importMedia(ctx);
    const api = await ctx.api();
    const zone = ['ls', 'show'].includes(ctx.args[0] ?? '') ? await displayZone(ctx.string('tz'), api) : 'UTC';
    switch (ctx.args[0]) {
      case 'ls': {
        ctx.operands('ls', 0);
        const entries = await api.call<EntryView[]>('GET', '/api/v1/depot');
        ctx.out(entries, () =>
          entries.length
            ? table(['ENTRY', 'SIZE', 'FILES', 'CREATED', 'CONTENT'], entries.map((e) => [e.id, mib(e.bytes), e.files.length, showTime(e.created, zone), content(e)]))
            : 'the depot is empty (netimage os build debian-12, netimage depot import <product> <iso>)',
        );
        return 0;
      }
      case 'show': {
        const id = entryPath(ctx, 'show');
        const e = await api.call<EntryView>('GET', `/api/v1/depot/${id}`);
        ctx.out(e, () => showText(e, zone));
        return 0;
      }
      case 'verify': {
        const id = entryPath(ctx, 'verify');
        const r = await api.call<{ ok: boolean; problems: string[]; bytes: number }>('POST', `/api/v1/depot/${id}/verify`);
        ctx.out(r, () => (r.ok ? `${id}: ok (${mib(r.bytes)} verified)` : `${id}: DAMAGED\n${r.problems.map((p) => `  ${p}`).join('\n')}`));
        return r.ok ? 0 : 1;
      }
      case 'pull': {
        const id = entryPath(ctx, 'pull');
        const e = await api.call<EntryView>('POST', `/api/v1/depot/${id}/pull`);
        ctx.out(e, () => `${e.id}: here (${mib(e.bytes)}, ${e.files.length} file(s), sha256 checked)`);
        return 0;
      }
      case 'rm': {
        const id = entryPath(ctx, 'rm');
        await api.call('DELETE', `/api/v1/depot/${id}`);
        ctx.out({ removed: id }, () => `removed ${id}`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};

async function importMedia(ctx: CommandContext): Promise<number> {
  const [product, source] = ctx.operands('import', 2);
  // Before reading anything: a mistyped id would otherwise import gigabytes under a name no
  // product ever reads.
  const { WINDOWS_INSTALL_PRODUCTS } = await import('../../jobs/first-boot.ts');
  if (!WINDOWS_INSTALL_PRODUCTS.includes(product)) {
    throw new UsageError(`depot import is for Windows media of ${WINDOWS_INSTALL_PRODUCTS.join(' or ')}, not ${product}; ${ctx.usage('import').message}`);
  }
  const { windowsMediaPart, WINDOWS_MEDIA_PARTS, importWindowsMedia } = await import('../../depot/windows-media.ts');
  const part = windowsMediaPart.safeParse(ctx.string('part') ?? 'installfiles');
  if (!part.success) throw new UsageError(`--part must be one of ${WINDOWS_MEDIA_PARTS.join(', ')}; ${ctx.usage('import').message}`);
  // Loaded here, not at the top: see serve.ts.
  const { loadConfig } = await import('../../config/load.ts');
  const { depotDir } = await import('../../os-images/wiring.ts');
  const { Depot } = await import('../../depot/depot.ts');
  const { resolve } = await import('node:path');
  const depot = await Depot.open(depotDir(loadConfig({ file: ctx.string('config') ?? null })), { recover: false });
  const plain = ctx.flag('json') || !process.stdout.isTTY;
  const live = plain ? null : (await import('log-update')).default;
  let lastPercent = -1;
  const r = await importWindowsMedia({
    depot,
    product,
    source: resolve(source),
    part: part.data,
    onProgress: ({ bytes, total }) => {
      const percent = total ? Math.floor((bytes / total) * 100) : 100;
      const line = `${part.data} of ${product}: ${mib(bytes)} / ${mib(total)} (${percent}%)`;
      if (live) live(line);
      // Without a terminal: a line per 10 %, not per chunk.
      else if (!ctx.flag('json') && percent >= lastPercent + 10) {
        lastPercent = percent - (percent % 10);
        process.stdout.write(line + '\n');
      }
    },
  });
  live?.done();
  const summary = { entry: r.entry.id, part: r.part, files: r.files, bytes: r.bytes, editions: r.editions };
  ctx.out(summary, () =>
    [`imported ${r.files} files (${mib(r.bytes)}) into ${r.entry.id}/${r.part}/`, ...(r.editions ?? []).map((e) => `  edition ${e.index}: ${e.name}`)].join('\n'),
  );
  return 0;
}
