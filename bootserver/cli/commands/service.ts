// `netimage service install|uninstall|status`: the systemd unit (../service.ts does the work).
import type { CommandGroup } from '../command.ts';
import { installService, serviceStatus, uninstallService } from '../service.ts';

export const serviceCommand: CommandGroup = {
  name: 'service',
  section: 'server',
  usage: [
    { syntax: 'service install [--config FILE] [--target-dir DIR] [--no-enable]', summary: 'systemd unit for this checkout, enabled and started' },
    { syntax: 'service uninstall [--target-dir DIR]', summary: 'stop, disable, remove the unit (data stays)' },
    { syntax: 'service status [--target-dir DIR]' },
  ],
  options: { 'target-dir': { type: 'string' }, 'no-enable': { type: 'boolean' } },
  async run(ctx) {
    const verb = ctx.args[0];
    if (verb !== 'install' && verb !== 'uninstall' && verb !== 'status') throw ctx.unknownVerb();
    ctx.operands(verb, 0);
    const options = { targetDir: ctx.string('target-dir'), config: ctx.string('config'), noEnable: ctx.flag('no-enable') };
    if (verb === 'install') process.stdout.write((await installService(options)).join('\n') + '\n');
    if (verb === 'uninstall') process.stdout.write((await uninstallService(options)).join('\n') + '\n');
    if (verb !== 'status') return 0;
    const s = await serviceStatus(options);
    ctx.out(s, () =>
      s.installed
        ? [`installed: ${s.unitPath}`, `  ExecStart=${s.execStart}`, ...(s.enabled !== null ? [`  enabled: ${s.enabled}`, `  active:  ${s.active}`] : [])].join('\n')
        : `not installed (${s.unitPath})`,
    );
    return s.installed ? 0 : 3; // like systemctl status: non-zero when it is not there
  },
};
