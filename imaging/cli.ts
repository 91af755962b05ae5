// netimage-imaging: the imaging engine from a shell (tests, bench, operators debugging a client).
//   node imaging/cli.ts <prepare|backup|restore|delimage|space|import> --disk /dev/X [options]
//   node imaging/cli.ts image-device --device /dev/loopN --store DIR --image NAME [--level N]
//     (a chunked image of one file system into the folder DIR: how the server turns the ext4 it
//     built for a Linux install into the format the PCs apply; it only reads the device)
// Prints progress/log lines on stderr and one JSON result line on stdout; exit 1 on failure.
// On a host, run it inside `unshare -m --propagation private` so its mounts stay private.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { PAGEFILE_SETTINGS, type PagefileSetting } from './restore-mode.ts';
import { backupPartition } from './backup.ts';
import { backupFlow, delimageFlow, importFlow, prepareFlow, PREPARE_DEFAULTS, restoreFlow, spaceFlow, type FlowContext } from './flows.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    disk: { type: 'string', multiple: true },
    'allow-loop': { type: 'boolean', default: false },
    image: { type: 'string' },
    device: { type: 'string' },
    store: { type: 'string' },
    level: { type: 'string', default: '3' },
    file: { type: 'string' },
    firmware: { type: 'string', default: 'uefi' },
    os: { type: 'string', default: 'linux' },
    'system-size': { type: 'string', default: PREPARE_DEFAULTS.systemPartitionSize },
    'data-size': { type: 'string', default: PREPARE_DEFAULTS.dataPartitionSize },
    'winpe-size': { type: 'string', default: PREPARE_DEFAULTS.winpePartitionSize },
    'min-backup': { type: 'string', default: PREPARE_DEFAULTS.minimalBackupPartitionSize },
    'multi-disk-mode': { type: 'string', default: '0' },
    'backup-other-disk': { type: 'boolean', default: false },
    'hint-serial': { type: 'string' },
    'hint-wwn': { type: 'string' },
    'hint-min-size': { type: 'string' },
    'sector-size': { type: 'string' },
    'full-check': { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    // Delta that reads every chunk (restore_mode=compare): trusts no ext4 inode records.
    compare: { type: 'boolean', default: false },
    // The restore property pagefile: restore (default) | skip (a delta leaves pagefile.sys / an ext4 swap file alone).
    pagefile: { type: 'string', default: 'restore' },
    'source-product': { type: 'string' },
  },
});

const ctx: FlowContext = {
  log: (line) => process.stderr.write(`${line}\n`),
  progress: (p, m) => process.stderr.write(`progress ${p.toFixed(1)}% ${m ?? ''}\n`),
  devices: values.disk,
  allowLoop: values['allow-loop'],
  hints: {
    serial: values['hint-serial'],
    wwn: values['hint-wwn'],
    minSizeBytes: values['hint-min-size'] ? Number(values['hint-min-size']) : undefined,
  },
};
const need = (v: string | undefined, what: string): string => {
  if (!v) throw new Error(`--${what} is required`);
  return v;
};
const pagefileOption = (v: string): PagefileSetting => {
  const r = z.enum(PAGEFILE_SETTINGS).safeParse(v);
  if (!r.success) throw new Error(`--pagefile "${v}" is not one of ${PAGEFILE_SETTINGS.join(', ')}`);
  return r.data;
};

async function main(): Promise<unknown> {
  const cmd = positionals[0];
  switch (cmd) {
    case 'prepare':
      return prepareFlow(ctx, {
        firmware: values.firmware === 'bios' ? 'bios' : 'uefi',
        osFamily: values.os === 'windows' ? 'windows' : 'linux',
        systemPartitionSize: values['system-size'],
        dataPartitionSize: values['data-size'],
        winpePartitionSize: values['winpe-size'],
        minimalBackupPartitionSize: values['min-backup'],
        multiDiskMode: values['multi-disk-mode'],
        backupPartitionOnSameDisk: !values['backup-other-disk'],
      });
    case 'backup':
      return backupFlow(ctx, { imageName: need(values.image, 'image'), sourceProduct: values['source-product'] ?? null });
    case 'restore':
      return restoreFlow(ctx, { imageName: need(values.image, 'image'), fullCheck: values['full-check'], mode: values.full ? 'full' : values.compare ? 'compare' : 'delta', pagefile: pagefileOption(values.pagefile) });
    case 'delimage':
      return delimageFlow(ctx, need(values.image, 'image'));
    case 'space':
      return spaceFlow(ctx);
    case 'image-device':
      return backupPartition({
        storeRoot: need(values.store, 'store'),
        device: need(values.device, 'device'),
        imageName: need(values.image, 'image'),
        format: 'chunked',
        zstdLevel: Number(values.level),
        onProgress: (p) => ctx.progress?.(p, 'image'),
        log: ctx.log,
      });
    case 'import':
      return importFlow(ctx, {
        file: need(values.file, 'file'),
        imageName: need(values.image, 'image'),
        logicalSectorSize: values['sector-size'] ? Number(values['sector-size']) : undefined,
      });
    default:
      throw new Error(`usage: cli.ts <prepare|backup|restore|delimage|space|import> --disk /dev/X [--allow-loop] [--image NAME] ... | image-device --device DEV --store DIR --image NAME [--level N]`);
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
  },
  (e: unknown) => {
    const err = e as Error;
    process.stdout.write(`${JSON.stringify({ ok: false, error: err.message, name: err.name })}\n`);
    process.exitCode = 1;
  },
);
