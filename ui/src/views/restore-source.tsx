// Where a restore takes its image from: the PCs' own backup partitions, or a golden image from the
// server's depot (`netimage room restore --server-image`), fetched only or fetched and restored,
// and for a room by one multicast stream or by each PC over HTTP. The properties are the ones the
// CLI sends (bootserver/cli/commands/room.ts), so the server treats both alike.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { bytes, when } from '../model.ts';
import type { DepotListEntry, PropertyValues } from '../types.ts';

export type RestoreSource = 'pcs' | 'golden';

export interface GoldenChoice {
  /** The depot entry name (golden/<name>): what server_image names. */
  image: string;
  fetchOnly: boolean;
  /** A room only: the room's one multicast stream (PCs that miss pieces fetch them over HTTP). */
  multicast: boolean;
}

/** The properties of a restore of a golden image, as `room restore --server-image [--multicast] [--fetch-only]` sets them. */
export function goldenProperties(g: GoldenChoice, room: boolean): PropertyValues {
  return { server_image: g.image, restore_after_fetch: !g.fetchOnly, server_image_multicast: room && g.multicast };
}

/** The depot's golden images (GET /api/v1/depot: one request), read only once the dialog asks for them. */
export function useGoldenImages(needed: boolean): { list: DepotListEntry[] | null; error: string | null } {
  const [state, setState] = useState<{ list: DepotListEntry[] | null; error: string | null }>({ list: null, error: null });
  useEffect(() => {
    if (!needed || state.list) return;
    api.call<DepotListEntry[]>('GET', '/api/v1/depot').then(
      (all) => setState({ list: all.filter((e) => e.kind === 'golden'), error: null }),
      (e) => setState({ list: [], error: (e as Error).message }),
    );
  }, [needed]);
  return state;
}

/** "verified 2026-12-04 17:02:10 +01:00", "not verified yet", or that the last verify found problems. */
export function verifiedWords(e: DepotListEntry): string {
  const v = e.verified;
  if (!v) return 'not verified yet';
  return v.ok ? `verified ${when(v.at)}` : `damaged at the last verify ${when(v.at)}`;
}

function Radio<T extends string>({ name, value, current, onChange, label, note }: { name: string; value: T; current: T; onChange: (v: T) => void; label: string; note: string }) {
  return (
    <label class="choice">
      <input type="radio" name={name} value={value} checked={current === value} onChange={() => onChange(value)} />
      <span>
        {label}
        <span class="muted small block">{note}</span>
      </span>
    </label>
  );
}

export function SourceFields({ room, source, setSource }: { room: boolean; source: RestoreSource; setSource: (s: RestoreSource) => void }) {
  return (
    <fieldset>
      <legend>Restore from</legend>
      <Radio name="source" value="pcs" current={source} onChange={setSource} label={room ? "An image on the PCs' backup partitions" : "An image on the PC's backup partition"} note="made by a backup of that PC" />
      <Radio name="source" value="golden" current={source} onChange={setSource} label="A golden image from the server" note="kept in the server's depot: no image needs to be on the PCs" />
    </fieldset>
  );
}

export function GoldenFields({ room, golden, choice, setChoice }: { room: boolean; golden: { list: DepotListEntry[] | null; error: string | null }; choice: GoldenChoice; setChoice: (c: GoldenChoice) => void }) {
  if (golden.error) return <p class="error">The server's golden images could not be read: {golden.error}</p>;
  if (!golden.list) return <p class="muted">loading the server's golden images…</p>;
  if (!golden.list.length)
    return (
      <p class="muted" data-testid="no-golden">
        The server's depot has no golden images yet. A backup with upload_to_server=true puts one there (docs/imaging.md, Golden images).
      </p>
    );
  const set = (c: Partial<GoldenChoice>) => setChoice({ ...choice, ...c });
  const entry = golden.list.find((e) => e.name === choice.image);
  const meta = (entry?.meta ?? {}) as { fsType?: string; capturedFrom?: string };
  return (
    <>
      <label>
        Golden image
        <select name="golden" value={choice.image} onChange={(e) => set({ image: (e.target as HTMLSelectElement).value })}>
          {golden.list.map((e) => (
            <option value={e.name} key={e.name}>
              {e.name} — {bytes(e.bytes)}, {verifiedWords(e)}
            </option>
          ))}
        </select>
      </label>
      {entry && (
        <p class="muted small" data-testid="golden-facts">
          {[meta.fsType, meta.capturedFrom && `uploaded from ${meta.capturedFrom}`, `in the depot since ${when(entry.created)}`].filter(Boolean).join(', ')}
        </p>
      )}
      <fieldset>
        <legend>What to do</legend>
        <Radio name="mode" value="restore" current={choice.fetchOnly ? 'fetch' : 'restore'} onChange={() => set({ fetchOnly: false })} label="Fetch and restore" note="onto the backup partition, then it replaces the system partition" />
        <Radio
          name="mode"
          value="fetch"
          current={choice.fetchOnly ? 'fetch' : 'restore'}
          onChange={() => set({ fetchOnly: true })}
          label="Fetch only"
          note="onto the backup partition, to restore later; the system partition is not touched"
        />
      </fieldset>
      {room && (
        <fieldset>
          <legend>Transport</legend>
          <Radio
            name="transport"
            value="multicast"
            current={choice.multicast ? 'multicast' : 'unicast'}
            onChange={() => set({ multicast: true })}
            label="One multicast stream for the room"
            note="the server sends the image once; a PC that is late, loses packets or has multicast blocked fetches what it misses over HTTP. Any host on this network can receive the stream: only for images without secrets"
          />
          <Radio
            name="transport"
            value="unicast"
            current={choice.multicast ? 'multicast' : 'unicast'}
            onChange={() => set({ multicast: false })}
            label="Each PC over HTTP"
            note="every PC fetches the whole image by itself: the server sends it once per PC"
          />
        </fieldset>
      )}
    </>
  );
}
