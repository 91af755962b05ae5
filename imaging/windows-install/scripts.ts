// What the staged winpe partition holds besides WinPE and the install sources, as text. Pure.
//
//   \bootmgr, \Boot\..., \EFI\..., \sources\boot.wim   WinPE (winpe/ of the media entry); boot.wim
//                                                     gets startnet.cmd (below) at \Windows\System32
//   \installfiles\setup.exe, \installfiles\sources\... the install medium (installfiles/)
//   \installfiles\sources\$OEM$\$$\Setup\Scripts\     SetupComplete.cmd + its report; setup copies
//                                                     $OEM$\$$ into %WINDIR% of the new Windows
//   \installfiles\sources\$OEM$\$1\netimage\custom\  the media entry's custom/; setup copies $OEM$\$1
//                                                     to the new Windows' system drive: C:\netimage\custom
//   \$WinPEDriver$\<folder>\                          drivers chosen by PCI id
//   \netimage\unattend.xml                            the answer file
//   \netimage\winpe.tag                               finds this partition from inside WinPE
//   \netimage\pending                                 present until WinPE starts setup: the PC's
//                                                     Grub config chainloads WinPE only while it is
//   \netimage\stage.json                              what was staged (for the admin and the tests)
import type { FirstBootReport } from '../../lib/agent-protocol.ts';
import { ESP_WINPE_DIR, WINPE_PENDING_FILE } from '../../lib/winpe-paths.ts';

/** Drive letter the start script gives the winpe partition, so the answer file can name paths on it. */
export const WINPE_DRIVE = 'W';
export const TAG_FILE = 'netimage/winpe.tag';
/** Grub looks for this file (bootserver/boot/grub-render.ts). */
export const PENDING_FILE = WINPE_PENDING_FILE;
export const UNATTEND_FILE = 'netimage/unattend.xml';
export const STAGE_FILE = 'netimage/stage.json';
export const INSTALL_DIR = 'installfiles';
export const DRIVER_DIR = '$WinPEDriver$';
export const SETUP_SCRIPTS_DIR = `${INSTALL_DIR}/sources/$OEM$/$$/Setup/Scripts`;
export const REPORT_FILE = 'netimage-report.json';
/** Where custom/ goes on the winpe partition, and where setup puts it in the installed Windows. */
export const CUSTOM_DIR = `${INSTALL_DIR}/sources/$OEM$/$1/netimage/custom`;
export const CUSTOM_ON_SYSTEM = '%SystemDrive%\\netimage\\custom';
/** custom/ folders SetupComplete.cmd acts on: drivers added with pnputil, scripts run in name order. */
export const CUSTOM_DRIVERS = 'drivers';
export const CUSTOM_SCRIPTS = 'setupcomplete';
/** What a script under custom/setupcomplete/ may be called: it is written into a cmd line. */
export const CUSTOM_SCRIPT_NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]*\.(cmd|bat|ps1)$/i;
export const TOKEN_FILE = 'netimage-token.txt';
export { ESP_WINPE_DIR };

/** cmd.exe wants CRLF. */
const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';

/** A driver folder's name under $WinPEDriver$: one level, no path separators. */
export function driverFolderName(folder: string, i: number): string {
  const base = folder.replace(/[^A-Za-z0-9._+-]+/g, '_').replace(/^[._]+/, '') || 'drivers';
  return `${String(i + 1).padStart(3, '0')}-${base}`.slice(0, 120);
}

/**
 * \Windows\System32\startnet.cmd inside boot.wim: WinPE runs it after boot. It finds the staged
 * partition by its tag file, gives it drive W: (the answer file's DriverPaths name W:), removes
 * the pending marker (so the next reboot goes on to the Windows setup installs, not WinPE again),
 * and runs setup with the answer file. Fixed text: nothing from properties goes into it.
 */
export function startnetCmd(): string {
  return crlf([
    '@echo off',
    'rem netimage: unattended Windows setup from the staged winpe partition',
    'wpeinit',
    'set NI=',
    'for %%d in (C D E F G H I J K L M N O P Q R S T U V W Y Z) do if exist %%d:\\netimage\\winpe.tag set NI=%%d:',
    'if "%NI%"=="" (echo netimage: the staged winpe partition was not found & goto :eof)',
    `if /i not "%NI%"=="${WINPE_DRIVE}:" (`,
    '  echo select volume=%NI:~0,1%> X:\\netimage-letter.txt',
    '  echo remove letter=%NI:~0,1% noerr>> X:\\netimage-letter.txt',
    `  echo assign letter=${WINPE_DRIVE} noerr>> X:\\netimage-letter.txt`,
    '  diskpart /s X:\\netimage-letter.txt',
    ')',
    `if not exist ${WINPE_DRIVE}:\\netimage\\winpe.tag (echo netimage: drive ${WINPE_DRIVE}: could not be assigned & goto :eof)`,
    `del /f /q ${WINPE_DRIVE}:\\${PENDING_FILE.replace(/\//g, '\\')}`,
    `${WINPE_DRIVE}:\\${INSTALL_DIR}\\setup.exe /unattend:${WINPE_DRIVE}:\\${UNATTEND_FILE.replace(/\//g, '\\')}`,
  ]);
}

/** The report the installed Windows sends (POST /agent/v1/first-boot), written by the agent. */
export function completionReport(hostname: string, imageName: string, bootMode: FirstBootReport['bootMode']): FirstBootReport {
  return { hostname, kernelRelease: `Windows: ${imageName}`.slice(0, 200), secureBoot: null, bootMode };
}

/** What SetupComplete.cmd does with the media entry's custom/ (stage.ts finds it in the plan). */
export interface CustomSteps {
  /** custom/drivers/ has .inf files: `pnputil /add-driver ... /subdirs /install`. */
  drivers: boolean;
  /** Names of the scripts in custom/setupcomplete/ (CUSTOM_SCRIPT_NAME), run in this order. */
  scripts: string[];
}

export const NO_CUSTOM: CustomSteps = { drivers: false, scripts: [] };

/**
 * The lines that apply custom/ in the installed Windows, before the report: the drivers of
 * custom/drivers into the driver store, then each script of custom/setupcomplete in its own
 * cmd.exe (an `exit` in it ends only that script) or PowerShell, its output and exit code
 * appended to netimage.log. A failing script does not stop the others or the report (Windows is
 * installed; the log says what failed). The scripts folder is removed afterwards: scripts often
 * carry credentials, and C:\netimage is readable by every user.
 */
function customLines(custom: CustomSteps): string[] {
  const out: string[] = [];
  if (custom.drivers) {
    out.push(`echo netimage: pnputil custom\\${CUSTOM_DRIVERS} >> "%NILOG%"`);
    out.push(`pnputil.exe /add-driver "${CUSTOM_ON_SYSTEM}\\${CUSTOM_DRIVERS}\\*.inf" /subdirs /install >> "%NILOG%" 2>&1`);
    out.push('echo netimage: pnputil exit %errorlevel% >> "%NILOG%"');
  }
  for (const name of custom.scripts) {
    if (!CUSTOM_SCRIPT_NAME.test(name)) throw new Error(`custom script name ${JSON.stringify(name)} cannot stand in a cmd script`);
    const path = `${CUSTOM_ON_SYSTEM}\\${CUSTOM_SCRIPTS}\\${name}`;
    const run = /\.ps1$/i.test(name) ? `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "${path}"` : `cmd.exe /c ""${path}""`;
    out.push(`echo netimage: custom\\${CUSTOM_SCRIPTS}\\${name} >> "%NILOG%"`);
    out.push(`${run} >> "%NILOG%" 2>&1`);
    out.push(`echo netimage: custom\\${CUSTOM_SCRIPTS}\\${name} exit %errorlevel% >> "%NILOG%"`);
  }
  if (custom.scripts.length) out.push(`rd /s /q "${CUSTOM_ON_SYSTEM}\\${CUSTOM_SCRIPTS}"`);
  return out;
}

/**
 * %WINDIR%\Setup\Scripts\SetupComplete.cmd: Windows setup runs it as SYSTEM after the install,
 * before the first logon (where opsi runs its own post-install steps). It applies custom/ (above),
 * then posts the report with the one-time token through curl.exe (part of Windows 10 since 1803
 * and of Windows 11), retrying while the network comes up; on success it deletes the token and
 * report. The URL is the plan's (validated, http(s), no quotes).
 */
export function setupCompleteCmd(url: string, custom: CustomSteps = NO_CUSTOM): string {
  if (!/^https?:\/\/[A-Za-z0-9.:\[\]_\/-]+$/.test(url)) throw new Error(`completion URL ${JSON.stringify(url)} cannot stand in a cmd script`);
  return crlf([
    '@echo off',
    'rem netimage: apply custom/ and report the finished installation to the server (one-time token)',
    'set NIDIR=%~dp0',
    'set NILOG=%WINDIR%\\Setup\\Scripts\\netimage.log',
    ...customLines(custom),
    `set /p NITOKEN=<"%NIDIR%${TOKEN_FILE}"`,
    'for /l %%i in (1,1,30) do (',
    `  curl.exe -fsS -m 30 -X POST -H "Authorization: Bearer %NITOKEN%" -H "Content-Type: application/json" --data-binary "@%NIDIR%${REPORT_FILE}" ${url} && goto reported`,
    '  ping -n 11 127.0.0.1 >nul',
    ')',
    'echo netimage: the server did not take the report >> "%NILOG%"',
    'goto :eof',
    ':reported',
    `del /f /q "%NIDIR%${TOKEN_FILE}" "%NIDIR%${REPORT_FILE}"`,
  ]);
}
