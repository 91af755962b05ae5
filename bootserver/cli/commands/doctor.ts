// `netimage doctor`: local checks of what a working bootserver needs (see ../doctor.ts).
import type { CommandGroup } from '../command.ts';
import type { Config } from '../../config/schema.ts';

export const doctorCommand: CommandGroup = {
  name: 'doctor',
  section: 'server',
  usage: [{ syntax: 'doctor [--config FILE]', summary: 'check loaders, boot image, ports, config' }],
  async run(ctx) {
    // Loaded here, not at the top: see serve.ts.
    const { loadConfig } = await import('../../config/load.ts');
    const { runDoctor } = await import('../doctor.ts');
    const { openConfiguredStore, describeStore } = await import('../../store/open.ts');
    let config: Config;
    try {
      config = loadConfig({ file: ctx.string('config') ?? null });
    } catch (error) {
      process.stdout.write(`✘ config      ${(error as Error).message}\n`);
      return 1;
    }
    const checks = await runDoctor(config);
    const idx = checks.findIndex((c) => c.name === 'store');
    try {
      const store = await openConfiguredStore(config);
      const version = await store.readSchemaVersion();
      await store.close();
      checks[idx] = { name: 'store', ok: true, detail: `${describeStore(config)} (schema ${version})` };
    } catch (error) {
      checks[idx] = { name: 'store', ok: false, detail: (error as Error).message };
    }
    for (const c of checks) process.stdout.write(`${c.ok ? '✔' : '✘'} ${c.name.padEnd(14)} ${c.detail}\n`);
    const failed = checks.filter((c) => !c.ok).length;
    process.stdout.write(failed ? `${failed} problem(s) found\n` : 'all checks passed\n');
    return failed ? 1 : 0;
  },
};
