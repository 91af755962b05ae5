// VM tests (QEMU under TCG, network namespaces): `npm run test:vm`. One file at a time; each
// test boots real firmware, so the timeout is generous and the 2 cores are not oversubscribed.
const files = ['test/vm/**/*.test.ts'];

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
  workerThreads: false,
};
