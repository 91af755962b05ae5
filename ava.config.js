// Default test run (`npm test` pass 1, and pass 1 of `bash run.sh test`): everything but test/vm/,
// two files at a time. No QEMU here: every test that boots a VM lives in test/vm/ and runs in the
// one-at-a-time pass (ava.vm.config.js), so TCG never shares the 2 cores with the
// timing-sensitive tests of this pass (TFTP client timeouts) and two VMs never run at once.
export default {
  files: ['test/**/*.test.ts', '!test/vm/**'],
  extensions: { ts: 'module' },
  timeout: '5m',
  concurrency: 2,
  workerThreads: false,
};
