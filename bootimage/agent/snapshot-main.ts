// Entry point of the agent's startup snapshot (bootimage/builder/snapshot.ts): bundled into one
// CommonJS script, evaluated by `node --build-snapshot` at image build, so the image's node starts
// with the agent's modules already evaluated in its heap instead of parsing and running them
// (~1.2-1.7 s under TCG, docs/performance.md "Session 10"). At boot:
//   node --snapshot-blob /agent/agent.blob -- [options of start.ts]
// (`--` ends node's own options; the snapshot's main gets them as process.argv[1..]).
import { startupSnapshot } from 'node:v8';
import { main } from './start.ts';

startupSnapshot.setDeserializeMainFunction(() => {
  void main(process.argv.slice(1), 'snapshot');
});
