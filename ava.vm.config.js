// VM tests (QEMU under TCG, network namespaces), one file at a time: each boots real firmware, so
// the timeout is generous and two VMs never compete for the 2 cores.
//   `npm run test:vm` (and pass 2 of `bash run.sh test`): all of test/vm/
//   `npm test` pass 2 (NETIMAGE_VM_SET=default): the default scenarios and the DHCP firmware test
const files = process.env['NETIMAGE_VM_SET'] === 'default' ? ['test/vm/e2e-default-*.test.ts', 'test/vm/dhcp-firmware.test.ts'] : ['test/vm/**/*.test.ts'];

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
  workerThreads: false,
};
