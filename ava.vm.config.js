// VM tests (QEMU under TCG, network namespaces), one file at a time: each boots real firmware, so
// the timeout is generous and two VMs never compete for the 2 cores.
//   `npm run test:vm` (and pass 2 of `bash run.sh test`): all of test/vm/ but the experimental ones
//   NETIMAGE_VM_SET=all: also the experimental ones (below), but not the OS installs
//   `npm test` pass 2 (NETIMAGE_VM_SET=default): the default scenarios and the DHCP firmware test
// Experimental: boot.kernelTransport=http (grub's own TCP, opt-in, Secure Boot off). Its scenario
// stalled in 2 of ~4 runs on 2026-12-01/02 (grub's HTTP download of the initrd stopped mid-file
// under host load; once the kernel stopped after starting) — see docs/configuration.md. It stays
// runnable, but a known-unreliable opt-in path does not gate the test command.
// The real OS install scenarios (issue 11) are not in this one-at-a-time set: pass 2 of
// `bash run.sh test` runs them side by side afterwards (ava.os-install.config.js).
const EXPERIMENTAL = ['test/vm/e2e-http-transport.test.ts'];
const OS_INSTALL = ['test/vm/os-install-uefi-sb.test.ts', 'test/vm/os-install-bios.test.ts'];
const set = process.env['NETIMAGE_VM_SET'];
const files =
  set === 'default'
    ? ['test/vm/e2e-default-*.test.ts', 'test/vm/dhcp-firmware.test.ts']
    : set === 'all'
      ? ['test/vm/**/*.test.ts', ...OS_INSTALL.map((f) => `!${f}`)]
      : ['test/vm/**/*.test.ts', ...[...EXPERIMENTAL, ...OS_INSTALL].map((f) => `!${f}`)];

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
  workerThreads: false,
};
