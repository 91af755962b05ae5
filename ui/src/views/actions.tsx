// Actions on a room or one PC: restore, back up, prepare, install an OS, delete images, wake.
// An action that wipes disks says what it wipes on how many PCs and waits until the number of
// PCs is typed in; the server's refusal (403 outside one's rooms, 409 no common image...) is shown
// as the server words it.
import { useEffect, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { fetchOnlyOf, installProducts, pcs, PRODUCT, shortName, wipeOf } from '../model.ts';
import type { ClientImageView, GroupActionBody, GroupActionResult, ProductDefinition, PropertyValues } from '../types.ts';
import { Dialog, ErrorBox } from '../widgets.tsx';
import { NO_COMMON_IMAGE, NO_IMAGES_YET } from '../../../bootserver/actions/group-restore.ts';
import { nameList } from '../../../lib/name-list.ts';
import { GoldenFields, goldenProperties, SourceFields, useGoldenImages, type GoldenChoice, type RestoreSource } from './restore-source.tsx';

export type Target = { kind: 'group'; id: string; clients: string[] } | { kind: 'client'; id: string; group: string | null };

/**
 * What the signed-in user may start here, as the server's role table says
 * (bootserver/auth/policy.ts: an operator wakes, restores and backs up the PCs of their own rooms,
 * nothing else). Buttons that can only end in a 403 are not offered; the server still decides.
 */
export function mayAct(target: Target): { products: 'all' | readonly string[]; notMine: string | null } {
  const auth = api.auth;
  if (auth?.kind !== 'session' || auth.user.role !== 'operator') return { products: 'all', notMine: null };
  const room = target.kind === 'group' ? target.id : target.group;
  if (room && auth.user.groups.includes(room)) return { products: [PRODUCT.restore, PRODUCT.backup], notMine: null };
  const where = target.kind === 'group' ? `Room ${target.id} is` : room ? `${target.id} is in room ${room}, which is` : `${target.id} is in no room, so it is`;
  const mine = auth.user.groups.length ? `your rooms: ${auth.user.groups.join(', ')}` : 'no rooms yet';
  return { products: [], notMine: `${where} not one of your rooms (${mine}): you can look here, an admin can act.` };
}

const targetClients = (t: Target) => (t.kind === 'group' ? t.clients : [t.id]);

/**
 * Images on each PC's backup partition (restore's imagefiles_list, and which one a restore of the
 * PC uses), read only by the dialogs that offer them, in one request for a whole room
 * (GET /groups/:id/images), not one per PC.
 */
function useImages(target: Target, needed: boolean): Map<string, ClientImageView[]> | null {
  const [images, setImages] = useState<Map<string, ClientImageView[]> | null>(null);
  useEffect(() => {
    if (!needed) return setImages(new Map());
    const load =
      target.kind === 'group'
        ? api.call<{ client: string; images: ClientImageView[] }[]>('GET', `/api/v1/groups/${seg(target.id)}/images`).then((rows) => rows.map((r) => [r.client, r.images] as const))
        : api.call<ClientImageView[]>('GET', `/api/v1/clients/${seg(target.id)}/images`).then((list) => [[target.id, list] as const]);
    load.then(
      (rows) => setImages(new Map(rows)),
      () => setImages(new Map()),
    );
  }, [target.kind, target.id, needed]);
  return images;
}

/** What a PC without images is told (the server's refusal says the same). */
const NO_IMAGES = 'none: back it up first or fetch a golden image';

/** A labelled choice among names, with an empty first option meaning `none`. */
function NameSelect({ label, name, value, onChange, none, names }: { label: string; name: string; value: string; onChange: (v: string) => void; none: string; names: string[] }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)} name={name}>
        <option value="">{none}</option>
        {names.map((i) => (
          <option value={i} key={i}>
            {i}
          </option>
        ))}
      </select>
    </label>
  );
}

/** What the UI adds to the server's "no common image" refusal: this dialog's way to a golden image. */
const GOLDEN_WAY = 'Here: under "Restore from", choose "A golden image from the server".';

/** The restore dialog's first choice: what the server restores when no image is named. */
function defaultLabel(target: Target, images: Map<string, ClientImageView[]> | null, common: string[], selected: string | null): string {
  if (target.kind === 'group') {
    if (common.length) return `the image every PC has (${common.join(', ')})`;
    return images ? 'the image every PC has (they share none: restore a golden image from the server instead, or back them up first)' : 'the image every PC has';
  }
  if (!images) return 'its selected image';
  if (!images.get(target.id)?.length) return `its selected image (${target.id} has no images: ${NO_IMAGES})`;
  return selected ? `its selected image (${selected})` : 'its selected image (none selected: pick one below)';
}

function ActionDialog({ product, target, onClose, onDone }: { product: ProductDefinition; target: Target; onClose: () => void; onDone: (message: string) => void }) {
  const clients = targetClients(target);
  const images = useImages(target, product.id === PRODUCT.restore || product.id === PRODUCT.delimage);
  const lists = [...(images?.values() ?? [])].map((list) => list.map((i) => i.name));
  const all = [...new Set(lists.flat())].sort();
  const common = all.filter((i) => lists.every((list) => list.includes(i)));
  // One PC restores the image selected for it (restore's imagefile), not "the one every PC has".
  const selected = target.kind === 'client' ? (images?.get(target.id)?.find((i) => i.selected)?.name ?? null) : null;
  const defaultImage = target.kind === 'client' ? selected : common.length === 1 ? common[0]! : null;
  const [image, setImage] = useState('');
  const isRestore = product.id === PRODUCT.restore;
  const room = target.kind === 'group';
  const [source, setSource] = useState<RestoreSource>('pcs');
  const golden = useGoldenImages(isRestore && source === 'golden');
  // Each PC over HTTP by default, as the CLI (`--multicast` is opt-in): the multicast stream reaches
  // any host on the segment without a token (docs/security.md), so the admin chooses it knowingly.
  const [goldenChoice, setGoldenChoice] = useState<GoldenChoice>({ image: '', fetchOnly: false, multicast: false });
  const chosenGolden = goldenChoice.image || golden.list?.[0]?.name || '';
  const fromGolden = isRestore && source === 'golden';
  // Windows installs: the images the depot has for the product (the server fills these choices).
  const windowsImages = installProducts([product]).length ? (product.properties.find((p) => p.name === 'imagename')?.choices ?? []) : [];
  const [windowsImage, setWindowsImage] = useState('');
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const properties: PropertyValues = fromGolden ? goldenProperties({ ...goldenChoice, image: chosenGolden }, room) : {};
  if (isRestore && !fromGolden && image) properties['imagefile'] = image;
  // One PC's restore from its own partition: a server_image still stored from an earlier golden
  // restore would make it fetch that instead (the room endpoint clears it by itself).
  if (isRestore && !fromGolden && !room) properties['server_image'] = '';
  if (product.id === PRODUCT.backup && image) properties['imagefile'] = image;
  if (product.id === PRODUCT.delimage) properties['imagefile'] = image || 'all_images';
  if (windowsImages.length && windowsImage) properties['imagename'] = windowsImage;
  const wipe = wipeOf(product, isRestore && !fromGolden && !image && defaultImage ? { imagefile: defaultImage } : properties);
  // A golden image fetched only: nothing is wiped, but an image of that name on the backup
  // partition is replaced, so the count is still asked for (as the CLI and the server do).
  const fetchOnly = fetchOnlyOf(product, properties);
  const count = clients.length;
  const confirmed = (!wipe && !fetchOnly) || typed.trim() === String(count);
  const ready = !fromGolden || !!chosenGolden;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!confirmed || !ready) return;
    setBusy(true);
    setError(null);
    try {
      if (target.kind === 'group') {
        // The server checks the count again: a room that changed since this dialog opened is refused.
        const body: GroupActionBody = { productId: product.id, actionRequest: 'setup', properties, ...(wipe || fetchOnly ? { confirm: count } : {}) };
        const r = await api.call<GroupActionResult>('POST', `/api/v1/groups/${seg(target.id)}/action`, body);
        const warnings = (r.warnings ?? []).map((w) => ` Warning: ${w}`).join('');
        onDone(`${product.name} set for ${pcs(r.clients.length)} of ${target.id}${r.imagefile ? ` (image ${r.imagefile})` : goldenWords}: each runs it at its next network boot.${warnings}`);
      } else {
        await api.call('PUT', `/api/v1/clients/${seg(target.id)}/products/${seg(product.id)}/action`, { actionRequest: 'setup', properties });
        onDone(`${product.name} set for ${target.id}${goldenWords}: it runs at the next network boot`);
      }
    } catch (err) {
      const message = (err as Error).message;
      // The server's refusal names its property (server_image); this dialog has its own way there.
      setError(isRestore && !fromGolden && (message.includes(NO_COMMON_IMAGE) || message.includes(NO_IMAGES_YET)) ? `${message}. ${GOLDEN_WAY}` : message);
      setBusy(false);
    }
  };
  const goldenWords = fromGolden ? ` (golden image ${chosenGolden}${room && goldenChoice.multicast ? ', one multicast stream for the room' : ''}${goldenChoice.fetchOnly ? ', fetch only' : ''})` : '';
  const where = target.kind === 'group' ? `room ${target.id}` : target.id;
  return (
    <Dialog title={`${product.name}: ${where}`} onClose={onClose}>
      <form onSubmit={submit} class="stack">
        {isRestore && <SourceFields room={room} source={source} setSource={setSource} />}
        {fromGolden && <GoldenFields room={room} golden={golden} choice={{ ...goldenChoice, image: chosenGolden }} setChoice={setGoldenChoice} />}
        {isRestore && !fromGolden && (
          <label>
            Image
            <select value={image} onChange={(e) => setImage((e.target as HTMLSelectElement).value)} name="image">
              <option value="">{defaultLabel(target, images, common, selected)}</option>
              {all.map((i) => (
                <option value={i} key={i}>
                  {i}
                  {common.includes(i) ? '' : ' (not on every PC)'}
                </option>
              ))}
            </select>
          </label>
        )}
        {product.id === PRODUCT.delimage && (
          <NameSelect label="Delete" name="image" value={image} onChange={setImage} none="all images" names={all} />
        )}
        {windowsImages.length > 0 && (
          <NameSelect label="Windows image" name="imagename" value={windowsImage} onChange={setWindowsImage} none="the image set for the PC (imagename)" names={windowsImages} />
        )}
        {product.id === PRODUCT.backup && (
          <label>
            Image name <span class="muted small">(empty: the product's default)</span>
            <input name="image" value={image} onInput={(e) => setImage((e.target as HTMLInputElement).value)} placeholder="e.g. room101-2026-12" />
          </label>
        )}
        {/* The catalogue's description speaks of the backup partition's image; the golden choices say their own. */}
        {!fromGolden && <p class="muted small">{product.description}</p>}
        {wipe || fetchOnly ? (
          <div class={wipe ? 'wipe' : 'wipe replace'} data-testid="wipe">
            <p>
              <strong>
                {wipe
                  ? `This wipes ${wipe} on ${pcs(count)}:`
                  : `This puts golden image ${fetchOnly} onto the backup partition${count === 1 ? '' : 's'} of ${pcs(count)}, replacing an image of that name already there; the system partition${count === 1 ? ' is' : 's are'} not touched:`}
              </strong>{' '}
              {nameList(clients)}
            </p>
            <label>
              Type {count} to confirm
              <input name="confirm" inputMode="numeric" autocomplete="off" value={typed} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
            </label>
          </div>
        ) : (
          <p>
            Runs on {pcs(count)}: {nameList(clients)}. Nothing is erased.
          </p>
        )}
        <ErrorBox error={error} />
        <div class="row">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class={wipe ? 'danger' : ''} disabled={!confirmed || !ready || busy}>
            {wipe ? `Wipe and ${shortName(product.id)} ${pcs(count)}` : fetchOnly ? `Fetch onto ${pcs(count)}` : `${shortName(product.id)} ${count === 1 ? target.id : pcs(count)}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ActionBar({ target, products, onChanged }: { target: Target; products: ProductDefinition[]; onChanged: () => void }) {
  const [open, setOpen] = useState<ProductDefinition | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const may = mayAct(target);
  const allowed = (id: string) => may.products === 'all' || may.products.includes(id);
  const byId = (id: string) => (allowed(id) ? products.find((p) => p.id === id) : undefined);
  const installs = installProducts(products).filter((p) => allowed(p.id));
  const wake = async () => {
    setError(null);
    try {
      await api.call('POST', target.kind === 'group' ? `/api/v1/groups/${seg(target.id)}/wake` : `/api/v1/clients/${seg(target.id)}/wake`);
      setNotice(`Wake-on-LAN sent to ${target.kind === 'group' ? `room ${target.id}` : target.id}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const button = (id: string, label: string) => {
    const p = byId(id);
    return p ? (
      <button class={p.destructive ? 'danger-outline' : 'secondary'} onClick={() => (setOpen(p), setNotice(null), setError(null))}>
        {label}
      </button>
    ) : null;
  };
  if (may.notMine)
    return (
      <p class="muted" role="note" data-testid="not-mine">
        {may.notMine}
      </p>
    );
  return (
    <div class="actions">
      <div class="row wrap">
        {button(PRODUCT.restore, 'Restore…')}
        {button(PRODUCT.backup, 'Back up…')}
        {button(PRODUCT.prepare, 'Prepare…')}
        {installs.length > 0 && (
          <select
            aria-label="Install an OS"
            value=""
            onChange={(e) => {
              const p = byId((e.target as HTMLSelectElement).value);
              if (p) setOpen(p);
            }}
          >
            <option value="">Install an OS…</option>
            {installs.map((p) => (
              <option value={p.id} key={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        )}
        {button(PRODUCT.delimage, 'Delete images…')}
        <button class="secondary" onClick={wake}>
          Wake
        </button>
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={error} onClose={() => setError(null)} />
      {open && (
        <ActionDialog
          product={open}
          target={target}
          onClose={() => setOpen(null)}
          onDone={(m) => {
            setOpen(null);
            setNotice(m);
            onChanged();
          }}
        />
      )}
    </div>
  );
}
