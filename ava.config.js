// Default test run (`npm test`, and pass 1 of `bash run.sh test`): everything but the VM matrix,
// two files at a time, plus the e2e-default-* VM scenarios. scripts/run-tests.sh sets
// NETIMAGE_DEFAULT_VM=0 and runs those scenarios in its VM pass instead, one at a time, so QEMU
// under TCG never shares the 2 cores with timing-sensitive tests (TFTP client timeouts).
const files = ['test/**/*.test.ts', '!test/vm/**'];
if (process.env.NETIMAGE_DEFAULT_VM !== '0') files.push('test/vm/e2e-default-*.test.ts');

export default {
  files,
  extensions: { ts: 'module' },
  timeout: '5m',
  concurrency: 2,
  workerThreads: false,
};
