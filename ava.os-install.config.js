// The two real OS install scenarios (issue 11): each a whole classroom cycle in its own lab (own
// namespace, subnet, server and disk). They run side by side: under TCG a VM keeps one core busy,
// and the two together take ~1.3x one instead of 2x (measured in docs/performance.md). Nothing
// else runs meanwhile (pass 2 of `bash run.sh test` starts them after the one-at-a-time matrix).
export default {
  files: ['test/vm/os-install-uefi-sb.test.ts', 'test/vm/os-install-bios.test.ts'],
  extensions: { ts: 'module' },
  timeout: '30m',
  concurrency: 2,
  workerThreads: false,
};
