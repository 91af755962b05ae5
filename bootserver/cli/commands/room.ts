// `netimage room restore`: reset a room in one command. Sets restore for every PC of the group
// (the server picks the image they all have unless --image names one), optionally wakes them,
// and with --follow shows one live progress line per PC until every job has ended.
import { ProductId } from '../../../lib/products.ts';
import type { PropertyValue } from '../../../lib/agent-protocol.ts';
import { seg, UsageError, type CommandGroup } from '../command.ts';
import type { JobLineEvent } from '../format.ts';
import { nameList } from '../../../lib/name-list.ts';
import { RoomProgress, summaryText } from '../room-progress.ts';
import { wake } from './wake.ts';
import { confirmWipe, YES_OPTION } from '../confirm-wipe.ts';
import { withCliWay } from '../golden-way.ts';
import { followEvents, followReconnectMs } from '../follow.ts';
import type { JobView } from './jobs.ts';

/** How often a terminal's block of lines is redrawn at most. */
const RENDER_EVERY_MS = 200;
const LIST_HINT = 'netimage depot ls lists the golden images, netimage images <hostname> what a PC has';

export const roomCommand: CommandGroup = {
  name: 'room',
  section: 'admin',
  usage: [
    {
      syntax: 'room restore <group> [--image NAME | --server-image NAME [--multicast] [--fetch-only]] [--wake] [--follow] [--yes]',
      summary: 'restore every PC of a group (the image all have, or --image; --server-image: the golden image from the depot, --multicast: in one stream for the room, --fetch-only: onto the backup partitions only, the system partitions untouched); asks to confirm the number of PCs it wipes, or with --fetch-only whose same-named image it replaces (--yes: no question); --follow: live progress, exit 0 only if all succeed',
    },
  ],
  options: {
    image: { type: 'string' },
    'server-image': { type: 'string' },
    multicast: { type: 'boolean' },
    'fetch-only': { type: 'boolean' },
    wake: { type: 'boolean' },
    follow: { type: 'boolean', short: 'f' },
    ...YES_OPTION,
  },
  async run(ctx) {
    if (ctx.args[0] !== 'restore') throw ctx.unknownVerb();
    const [group] = ctx.operands('restore', 1);
    const image = ctx.string('image');
    const golden = ctx.string('server-image');
    if (image && golden) throw new UsageError('--image (an image on the PCs) and --server-image (a golden image from the depot) exclude each other');
    if (!golden && (ctx.flag('multicast') || ctx.flag('fetch-only'))) throw new UsageError('--multicast and --fetch-only need --server-image');
    const properties: Record<string, PropertyValue> = golden
      ? { server_image: golden, server_image_multicast: ctx.flag('multicast'), restore_after_fetch: !ctx.flag('fetch-only') }
      : image
        ? { imagefile: image }
        : {};
    // Read before anything is set: a wrong value must not leave a restore set and the command ended.
    const reconnectMs = ctx.flag('follow') ? followReconnectMs() : 0;
    const api = await ctx.api();
    const { confirm, notice } = await confirmWipe(ctx, api, group, ProductId.restore, 'setup', properties);
    const set = await api
      .call<{ clients: string[]; imagefile: string | null; warnings?: string[] }>('POST', `/api/v1/groups/${seg(group)}/action`, {
        productId: ProductId.restore,
        actionRequest: 'setup',
        properties,
        ...(confirm === undefined ? {} : { confirm }),
      })
      .catch((error: unknown) => {
        throw withCliWay(error, `netimage room restore ${group} --server-image NAME (${LIST_HINT})`);
      });
    const plain = ctx.flag('json') || !process.stdout.isTTY;
    const say = (line: string) => process.stdout.write(line + '\n');
    const what = golden ? `golden image ${golden}${ctx.flag('multicast') ? ' (one multicast stream for the room)' : ''}${ctx.flag('fetch-only') ? ', fetch only' : ''}` : `image ${set.imagefile}`;
    if (notice) say(notice);
    say(`restore of ${what} set for ${set.clients.length} PC(s) of ${group}: ${nameList(set.clients)}`);
    for (const w of set.warnings ?? []) say(`warning: ${w}`);
    if (ctx.flag('wake')) say(await wake(api, { group }));
    if (!ctx.flag('follow')) return 0;

    const room = new RoomProgress(set.clients, ProductId.restore);
    const started = Date.now();
    // The live view: log-update redraws the block of lines in place on a terminal.
    const live = plain ? null : (await import('log-update')).default;
    const header = `following ${group} (Ctrl-C to stop)`;
    /** While the stream is away, what the terminal's header line says instead of "following". */
    let away: string | null = null;
    // On a terminal the header counts the PCs by state; a room taller than the terminal shows
    // the PCs that need a look and counts the rest (RoomProgress.frame).
    const render = () => live?.(room.frame(away ?? `following ${group}: ${room.counts()} (Ctrl-C to stop)`, process.stdout.rows ?? 24).join('\n'));
    // Progress comes about once a second from every PC: 500 PCs would redraw the block 500 times
    // a second. Changes are drawn together, at most every RENDER_EVERY_MS, and the last at the end.
    let due: NodeJS.Timeout | null = null;
    const renderSoon = () => {
      due ??= setTimeout(() => {
        due = null;
        render();
      }, RENDER_EVERY_MS);
    };
    try {
      await followEvents(
        api,
        '',
        {
          onEvent: (data) => {
            const e = data as JobLineEvent & { type?: string };
            if (e.type === 'wake') return undefined; // a client notice, not a job event
            if (!room.apply(e)) return undefined;
            if (plain) say(room.line(e.clientId));
            else renderSoon();
            return room.done() ? 'stop' : undefined;
          },
          onOpen: () => {
            if (plain) {
              say(header);
              for (const line of room.lines()) say(line);
            } else render();
          },
          onLost: (line) => {
            if (plain) process.stderr.write(line + '\n');
            else {
              away = line.replace(/^netimage: /, '');
              render();
            }
          },
          // The room's stream replays nothing: the PCs' newest restore jobs say where each is now.
          onBack: async (line) => {
            const q = new URLSearchParams({ group, per_client: '1', product: ProductId.restore, limit: '5000' });
            const changed = room.catchUp(await api.call<JobView[]>('GET', `/api/v1/jobs?${q.toString()}`));
            if (plain) {
              process.stderr.write(line + '\n');
              for (const id of changed) say(room.line(id));
            } else {
              away = null;
              render();
            }
            return room.done() ? 'stop' : undefined;
          },
        },
        reconnectMs,
      );
    } finally {
      if (due) {
        clearTimeout(due);
        render();
      }
      // The cursor log-update hid comes back however the stream ends (the server may end it).
      live?.done();
    }
    const summary = room.summary();
    if (ctx.flag('json')) say(JSON.stringify({ group, imagefile: set.imagefile, ...summary }));
    say(summaryText(summary, (Date.now() - started) / 1000));
    return summary.failed.length ? 1 : 0;
  },
};
