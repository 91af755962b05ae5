// STAND-IN for a real Windows SYSTEM hive (none can be made here without Windows): an empty
// registry hive (regf base block + one hbin with a root key and its security cell), written from
// the format description, then filled with hivexsh -w, the same packaged tool family the product
// reads it with. Only the values the generalized check reads are put in.
import { writeFile } from 'node:fs/promises';
import { run } from '../../../lib/process.ts';

const NONE = 0xffffffff;

/** An empty hive file (8 KiB) whose root key is named ROOT. */
export function emptyHive(): Buffer {
  const file = Buffer.alloc(0x2000);
  const base = file.subarray(0, 0x1000);
  base.write('regf', 0, 'latin1');
  base.writeUInt32LE(1, 4); // sequence numbers equal: the hive was cleanly written
  base.writeUInt32LE(1, 8);
  base.writeUInt32LE(1, 20); // major version
  base.writeUInt32LE(3, 24); // minor version
  base.writeUInt32LE(0, 28); // primary file
  base.writeUInt32LE(1, 32); // format: direct memory load
  base.writeUInt32LE(0x20, 36); // root cell, relative to the first hbin
  base.writeUInt32LE(0x1000, 40); // size of the hbins
  base.writeUInt32LE(1, 44);
  base.write('SYSTEM', 48, 'utf16le');
  let sum = 0;
  for (let i = 0; i < 0x1fc; i += 4) sum = (sum ^ base.readUInt32LE(i)) >>> 0;
  base.writeUInt32LE(sum, 0x1fc);

  const hbin = file.subarray(0x1000);
  hbin.write('hbin', 0, 'latin1');
  hbin.writeUInt32LE(0, 4); // offset of this hbin
  hbin.writeUInt32LE(0x1000, 8); // its size

  const nkAt = 0x20;
  const nkSize = 88;
  const skAt = nkAt + nkSize;
  const nk = hbin.subarray(nkAt, nkAt + nkSize);
  nk.writeInt32LE(-nkSize, 0); // negative: cell in use
  nk.write('nk', 4, 'latin1');
  nk.writeUInt16LE(0x2c, 6); // hive entry | no delete | ASCII name
  nk.writeUInt32LE(NONE, 20); // parent
  nk.writeUInt32LE(NONE, 32); // subkey list
  nk.writeUInt32LE(NONE, 36);
  nk.writeUInt32LE(NONE, 44); // value list
  nk.writeUInt32LE(skAt, 48); // security cell
  nk.writeUInt32LE(NONE, 52); // class name
  nk.writeUInt16LE(4, 76);
  nk.write('ROOT', 80, 'latin1');

  // Security cell: a self-relative descriptor with no owner, group or ACLs (20 bytes).
  const skSize = 48;
  const sk = hbin.subarray(skAt, skAt + skSize);
  sk.writeInt32LE(-skSize, 0);
  sk.write('sk', 4, 'latin1');
  sk.writeUInt32LE(skAt, 8); // the list of security cells is this one alone
  sk.writeUInt32LE(skAt, 12);
  sk.writeUInt32LE(1, 16); // reference count
  sk.writeUInt32LE(20, 20);
  sk.writeUInt8(1, 24); // revision
  sk.writeUInt16LE(0x8000, 26); // self-relative
  // The rest of the hbin is one free cell (positive size).
  hbin.writeInt32LE(0x1000 - skAt - skSize, skAt + skSize);
  return file;
}

export type HiveValue = { dword: number } | { sz: string };

/** Write a hive with these keys and values, e.g. {'Setup': {SystemSetupInProgress: {dword: 1}}}. */
export async function writeHive(path: string, keys: Record<string, Record<string, HiveValue>>): Promise<void> {
  await writeFile(path, emptyHive());
  const script: string[] = [];
  const made = new Set<string>();
  for (const [key, values] of Object.entries(keys)) {
    script.push('cd \\');
    const parts = key.split('\\');
    parts.forEach((part, i) => {
      const path = parts.slice(0, i + 1).join('\\');
      if (!made.has(path)) script.push(`add ${part}`);
      made.add(path);
      script.push(`cd ${part}`);
    });
    // hivexsh setval: count, then name and type:value pairs (string:, dword:0x...).
    const entries = Object.entries(values);
    if (entries.length === 0) continue;
    script.push(`setval ${entries.length}`);
    for (const [name, v] of entries) script.push(name, 'dword' in v ? `dword:0x${v.dword.toString(16).padStart(8, '0')}` : `string:${v.sz}`);
  }
  script.push('commit', 'close');
  await run('hivexsh', ['-w', path], { input: script.join('\n') + '\n' });
}

/** What sysprep /generalize /oobe leaves in the SYSTEM hive (stand-in values, see imaging/wim/generalized.ts). */
export const SYSPREPPED: Record<string, Record<string, HiveValue>> = {
  Setup: { SystemSetupInProgress: { dword: 1 }, SetupType: { dword: 2 }, CmdLine: { sz: 'oobe\\windeploy.exe' }, OOBEInProgress: { dword: 1 } },
  'Setup\\Status\\SysprepStatus': { GeneralizationState: { dword: 7 }, CleanupState: { dword: 2 } },
};
/** A normally installed, running Windows. */
export const INSTALLED: Record<string, Record<string, HiveValue>> = {
  Setup: { SystemSetupInProgress: { dword: 0 }, SetupType: { dword: 0 }, CmdLine: { sz: '' }, OOBEInProgress: { dword: 0 } },
  'Setup\\Status\\SysprepStatus': { GeneralizationState: { dword: 7 } },
};
