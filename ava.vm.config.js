// VM tests (QEMU under TCG, network namespaces), one file at a time: each boots real firmware, so
// the timeout is generous and two VMs never compete for the 2 cores.
//   `npm run test:vm` (and pass 2 of `bash run.sh test`): all of test/vm/ but the experimental ones
//   NETIMAGE_VM_SET=all: also the experimental ones (below)
//   `npm test` pass 2 (NETIMAGE_VM_SET=default): the default scenarios and the DHCP firmware test
// Experimental: boot.kernelTransport=http (grub's own TCP, opt-in, Secure Boot off). Its scenario
// stalled in 2 of ~4 runs on 2026-12-01/02 (grub's HTTP download of the initrd stopped mid-file
// under host load; once the kernel stopped after starting) — see docs/configuration.md. It stays
// runnable, but a known-unreliable opt-in path does not gate the test command.
// Not yet proven: the real OS install scenarios (issue 11). Two runs on 2026-12-02 (load 20-33)
// found and fixed two bugs (the boot image's mtools could not write the ESP; the local-boot config
// chainloaded shim with $root on the network), got as far as the first boot, and took 13-19 min for
// the install job alone (unpacking the root filesystem under TCG): the two scenarios (7 and 8
// boots) would not fit the test command's 60 min. They stay opt-in until they pass and the install
// is faster (docs/linux-install.md); then they replace e2e-default-uefi-proxy (fake OS from the
// host) and e2e-default-bios-full (hwinvent, now also a step of os-install-bios).
const EXPERIMENTAL = ['test/vm/e2e-http-transport.test.ts', 'test/vm/os-install-uefi-sb.test.ts', 'test/vm/os-install-bios.test.ts'];
const set = process.env['NETIMAGE_VM_SET'];
const files =
  set === 'default'
    ? ['test/vm/e2e-default-*.test.ts', 'test/vm/dhcp-firmware.test.ts']
    : set === 'all'
      ? ['test/vm/**/*.test.ts']
      : ['test/vm/**/*.test.ts', ...EXPERIMENTAL.map((f) => `!${f}`)];

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
  workerThreads: false,
};
