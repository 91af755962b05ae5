// Is the Windows on a system partition generalized (sysprep /generalize /oobe, shut down)? A WIM
// of a non-generalized system deploys one SID, one computer name and its drivers' state to every
// PC. Read from the SYSTEM hive with hivexsh (libhivex-bin), on the partition mounted read-only:
//   HKLM\SYSTEM\Setup                      SystemSetupInProgress=1, SetupType=2, CmdLine "oobe\windeploy.exe"
//                                          (what sysprep /oobe leaves: the next boot runs Windows Welcome)
//   HKLM\SYSTEM\Setup\Status\SysprepStatus GeneralizationState=7 (the state Microsoft's sysprep
//                                          documents after a successful /generalize)
// The SYSTEM hive has no "HKLM\SYSTEM" prefix inside: its root is the key itself.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runAllowFailure } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';
import { withMount } from '../mount.ts';

export type RegValue = number | string;

/** hivexsh lsval's .reg-style listing of one key ("Name"=dword:00000001, "Name"="text") as a map. */
export function parseRegListing(text: string): Map<string, RegValue> {
  const out = new Map<string, RegValue>();
  for (const line of text.split('\n')) {
    const m = /^"((?:[^"\\]|\\.)*)"=(.*)$/.exec(line.trim());
    if (!m) continue;
    const name = m[1]!.replace(/\\(.)/g, '$1');
    const raw = m[2]!;
    const dword = /^dword:([0-9a-fA-F]{8})$/.exec(raw);
    const sz = /^"((?:[^"\\]|\\.)*)"$/.exec(raw);
    if (dword) out.set(name, parseInt(dword[1]!, 16));
    else if (sz) out.set(name, sz[1]!.replace(/\\(.)/g, '$1'));
  }
  return out;
}

export interface GeneralizedState {
  generalized: boolean;
  /** Each condition that is not met, worded for the job log (empty when generalized). */
  reasons: string[];
  values: { systemSetupInProgress: RegValue | null; setupType: RegValue | null; cmdLine: RegValue | null; oobeInProgress: RegValue | null; generalizationState: RegValue | null };
}

/** Pure: the decision from the two keys' values. */
export function judgeGeneralized(setup: Map<string, RegValue>, sysprepStatus: Map<string, RegValue>): GeneralizedState {
  const values = {
    systemSetupInProgress: setup.get('SystemSetupInProgress') ?? null,
    setupType: setup.get('SetupType') ?? null,
    cmdLine: setup.get('CmdLine') ?? null,
    oobeInProgress: setup.get('OOBEInProgress') ?? null,
    generalizationState: sysprepStatus.get('GeneralizationState') ?? null,
  };
  const reasons: string[] = [];
  if (values.systemSetupInProgress !== 1) reasons.push(`Setup\\SystemSetupInProgress is ${values.systemSetupInProgress ?? 'missing'} (sysprep sets 1)`);
  if (values.setupType !== 2) reasons.push(`Setup\\SetupType is ${values.setupType ?? 'missing'} (sysprep sets 2)`);
  if (typeof values.cmdLine !== 'string' || !/oobe\\windeploy\.exe/i.test(values.cmdLine)) reasons.push(`Setup\\CmdLine is ${JSON.stringify(values.cmdLine ?? 'missing')} (sysprep /oobe sets "oobe\\windeploy.exe")`);
  if (values.generalizationState !== 7) reasons.push(`Setup\\Status\\SysprepStatus\\GeneralizationState is ${values.generalizationState ?? 'missing'} (7 after sysprep /generalize)`);
  return { generalized: reasons.length === 0, reasons, values };
}

async function regKey(hive: string, key: string): Promise<Map<string, RegValue>> {
  // Not interactive: hivexsh reads the commands from stdin and stops at the first error.
  const r = await runAllowFailure('hivexsh', [hive], { input: `cd ${key}\nlsval\n` });
  // A missing key is an answer (not generalized), not a failure.
  if (r.exitCode !== 0) {
    if (/not found/.test(r.stderr)) return new Map();
    throw new ImagingError(`hivexsh (cd ${key}) failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  return parseRegListing(r.stdout);
}

/** Read the state from a SYSTEM hive file. */
export async function readGeneralizedState(systemHive: string): Promise<GeneralizedState> {
  return judgeGeneralized(await regKey(systemHive, '\\Setup'), await regKey(systemHive, '\\Setup\\Status\\SysprepStatus'));
}

/** Windows\System32\config\SYSTEM under a mount point; NTFS through ntfs-3g is case-sensitive, Windows is not. */
export async function findSystemHive(root: string): Promise<string | null> {
  let dir = root;
  for (const want of ['Windows', 'System32', 'config', 'SYSTEM']) {
    const names = await readdir(dir).catch(() => [] as string[]);
    const hit = names.find((n) => n.toLowerCase() === want.toLowerCase());
    if (!hit) return null;
    dir = join(dir, hit);
  }
  return dir;
}

/** Mount the system partition read-only and judge its SYSTEM hive; no hive: not a Windows system partition. */
export async function checkGeneralized(device: string): Promise<GeneralizedState> {
  return withMount(
    device,
    async (dir) => {
      const hive = await findSystemHive(dir);
      if (!hive) throw new ImagingError(`${device} holds no Windows\\System32\\config\\SYSTEM: not a Windows system partition`);
      return readGeneralizedState(hive);
    },
    { fsType: 'ntfs-3g', readOnly: true },
  );
}
