// What the staged winpe partition holds besides WinPE and the install sources, as text. Pure.
//
//   \bootmgr, \Boot\..., \EFI\..., \sources\boot.wim   WinPE (winpe/ of the media entry); boot.wim
//                                                     gets startnet.cmd (below) at \Windows\System32
//   \installfiles\setup.exe, \installfiles\sources\... the install medium (installfiles/)
//   \installfiles\sources\$OEM$\$$\Setup\Scripts\     SetupComplete.cmd + its report; setup copies
//                                                     $OEM$\$$ into %WINDIR% of the new Windows
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

/**
 * %WINDIR%\Setup\Scripts\SetupComplete.cmd: Windows setup runs it as SYSTEM after the install,
 * before the first logon. It posts the report with the one-time token through curl.exe (part of
 * Windows 10 since 1803 and of Windows 11), retrying while the network comes up; on success it
 * deletes the token and report. The URL is the plan's (validated, http(s), no quotes).
 */
export function setupCompleteCmd(url: string): string {
  if (!/^https?:\/\/[A-Za-z0-9.:\[\]_\/-]+$/.test(url)) throw new Error(`completion URL ${JSON.stringify(url)} cannot stand in a cmd script`);
  return crlf([
    '@echo off',
    'rem netimage: report the finished installation to the server (one-time token)',
    'set NIDIR=%~dp0',
    `set /p NITOKEN=<"%NIDIR%${TOKEN_FILE}"`,
    'for /l %%i in (1,1,30) do (',
    `  curl.exe -fsS -m 30 -X POST -H "Authorization: Bearer %NITOKEN%" -H "Content-Type: application/json" --data-binary "@%NIDIR%${REPORT_FILE}" ${url} && goto reported`,
    '  ping -n 11 127.0.0.1 >nul',
    ')',
    'echo netimage: the server did not take the report >> "%WINDIR%\\Setup\\Scripts\\netimage.log"',
    'goto :eof',
    ':reported',
    `del /f /q "%NIDIR%${TOKEN_FILE}" "%NIDIR%${REPORT_FILE}"`,
  ]);
}
