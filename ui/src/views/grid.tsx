// A room as a grid of PC tiles: online/last seen, what runs now with a live bar, what is
// pending, and the last result.
import { useEffect, useState } from 'preact/hooks';
import { useLive } from '../live.ts';
import { ago, shortName, tileOf, type Tile } from '../model.ts';
import { href } from '../route.ts';
import type { ClientView, Job, ProductStateView } from '../types.ts';
import { JobState, ProgressBar } from '../widgets.tsx';

function PcTile({ tile, site }: { tile: Tile; site: string | null }) {
  return (
    <a class={`tile ${tile.online ? 'online' : ''}`} href={href({ view: 'client', id: tile.id })} data-client={tile.id}>
      <div class="tile-head">
        <span class={`dot ${tile.online ? 'on' : ''}`} aria-hidden="true" />
        <strong>{tile.id}</strong>
      </div>
      <div class="muted small">
        {tile.online ? 'online' : `last seen ${ago(tile.lastSeen)}`}
        {site && <span data-site> · {site}</span>}
      </div>
      {tile.current ? (
        <div class="current" data-job={tile.current.jobId}>
          <div class="small">
            {shortName(tile.current.productId)} · {tile.current.state}
          </div>
          <ProgressBar percent={tile.current.percent} label={`${tile.id} ${shortName(tile.current.productId)}`} />
          <div class="muted small ellipsis">{tile.current.message || '\u00a0'}</div>
          {tile.current.seeding && (
            <div class="muted small seeding" data-seeding>
              {tile.current.seeding}
            </div>
          )}
          {tile.pending.length > 0 && <div class="small pending">then {tile.pending.map(shortName).join(', ')} pending: starts at the network boot after this job</div>}
        </div>
      ) : tile.pending.length ? (
        <div class="small pending">{tile.pending.map(shortName).join(', ')} pending: waits for the next network boot</div>
      ) : (
        <div class="small muted">idle</div>
      )}
      <div class="last small" data-last={tile.last?.state ?? ''}>
        {tile.last ? (
          <>
            <JobState state={tile.last.state} productId={tile.last.productId} /> <span class="muted">{ago(tile.last.finished)}</span>
            {tile.last.error && <div class="bad-text ellipsis">{tile.last.error}</div>}
          </>
        ) : (
          <span class="muted">no jobs yet</span>
        )}
      </div>
    </a>
  );
}

export function Grid({ clients, jobs, states }: { clients: ClientView[]; jobs: Job[]; states: ProductStateView[] }) {
  const live = useLive();
  // "x s ago" moves on even when nothing happens.
  const [, setNow] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);
  if (clients.length === 0) return <p class="muted">No PCs in this room yet (netimage client import room.csv).</p>;
  return (
    <div class="grid">
      {clients.map((c) => (
        <PcTile key={c.id} tile={tileOf(c, jobs, states, live.jobs)} site={c.lastSeenSite ?? null} />
      ))}
    </div>
  );
}
