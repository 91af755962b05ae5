// VM tests (QEMU under TCG, network namespaces): `npm run test:vm`. One file at a time; each
// test boots real firmware, so the timeout is generous and the 2 cores are not oversubscribed.
// With NETIMAGE_VM_EXCLUDE_DEFAULT=1 (scripts/run-tests.sh) the e2e-default-* scenarios are left
// out because the default pass already ran them.
const files = ['test/vm/**/*.test.ts'];
if (process.env.NETIMAGE_VM_EXCLUDE_DEFAULT === '1') files.push('!test/vm/e2e-default-*.test.ts');

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
  workerThreads: false,
};
