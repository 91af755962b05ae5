// Entry point of the agent's ES module bundle (bootimage/build.ts bundles this file to
// /agent/agent.mjs + chunks): `node agent.mjs [options]`, options and exit codes in start.ts. The
// image starts the snapshot instead (snapshot-main.ts) when it has one.
import { main } from './start.ts';

await main(process.argv.slice(2));
