// What a schedule does when it runs: the same domain calls as the admin API (action request for
// a client or a group, restore picking the image every PC has), then Wake-on-LAN if asked.
import type { PropertyValue, ActionRequest } from '../../lib/agent-protocol.ts';
import type { NetbootService } from '../service/netboot.ts';
import type { WakeService } from '../wol/service.ts';
import type { ScheduleAction } from './scheduler.ts';

export function scheduleAction(deps: { service: NetbootService; wake: WakeService }): ScheduleAction {
  return async (schedule) => {
    const parts: string[] = [];
    const { kind, id } = schedule.target;
    const properties = schedule.properties as Record<string, PropertyValue>;
    const request = schedule.actionRequest as ActionRequest;
    if (schedule.productId) {
      if (kind === 'group') {
        const r = await deps.service.setGroupActionRequest(id, schedule.productId, request, properties);
        parts.push(`${request} of ${schedule.productId} set for ${r.clients.length} client(s) of ${id}${r.imagefile ? ` (image ${r.imagefile})` : ''}`);
      } else {
        await deps.service.setActionRequest(id, schedule.productId, request, properties);
        parts.push(`${request} of ${schedule.productId} set for ${id}`);
      }
    }
    if (schedule.wake) {
      const source = `schedule ${schedule.name}`;
      if (kind === 'group') {
        const r = await deps.wake.wakeGroup(id, source);
        parts.push(`woke ${r.woken.length} client(s)${r.skipped.length ? `, skipped ${r.skipped.map((s) => s.clientId).join(', ')} (no MAC)` : ''}`);
      } else {
        await deps.wake.wakeClient(id, source);
        parts.push(`woke ${id}`);
      }
    }
    return parts.join('; ');
  };
}
