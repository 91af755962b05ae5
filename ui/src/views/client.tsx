// One PC: what it is (inventory, disks), the images on its backup partition, its product states,
// and its jobs with their full logs.
import { useEffect, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { useLive } from '../live.ts';
import { ago, bytes, liveEventOf, PRODUCT, shortName, tileOf, when } from '../model.ts';
import { href } from '../route.ts';
import type { AgentInventory, ClientImageView, ClientView as Client, Job, JobEventRecord, ProductDefinition, ProductStateView } from '../types.ts';
import { ErrorBox, JobState, ProgressBar } from '../widgets.tsx';
import { ActionBar } from './actions.tsx';

interface Detail {
  client: Client;
  inventory: AgentInventory | null;
  states: ProductStateView[];
  jobs: Job[];
  images: ClientImageView[];
  backup: Record<string, unknown>;
  products: ProductDefinition[];
}

async function load(id: string): Promise<Detail> {
  const c = seg(id);
  const [client, states, jobs, images, backup, products] = await Promise.all([
    api.call<Client>('GET', `/api/v1/clients/${c}`),
    api.call<ProductStateView[]>('GET', `/api/v1/clients/${c}/products`),
    api.call<Job[]>('GET', `/api/v1/jobs?client=${c}&limit=100`),
    api.call<ClientImageView[]>('GET', `/api/v1/clients/${c}/images`),
    api.call<Record<string, unknown>>('GET', `/api/v1/clients/${c}/products/${PRODUCT.backup}/properties`),
    api.call<ProductDefinition[]>('GET', '/api/v1/products'),
  ]);
  const inventory = client.hasInventory ? await api.call<AgentInventory>('GET', `/api/v1/clients/${c}/inventory`) : null;
  return { client, inventory, states, jobs, images, backup, products };
}

/** Lines of a running job's events shown in its log box. */
const LOG_TAIL = 2000;

function JobLog({ job }: { job: Job }) {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    // The full log arrives once the job has ended; until then (or if the agent never sent it) the events the server kept.
    // A long job has more events than a page shows: its newest ones, with a line saying so.
    api.text(`/api/v1/jobs/${job.id}/log`).then(setText, async () => {
      const events = await api.call<JobEventRecord[]>('GET', `/api/v1/jobs/${job.id}/events?tail=${LOG_TAIL}`).catch(() => []);
      const lines = events.map((e) => `${when(e.ts)} ${e.kind === 'progress' ? `[${e.percent ?? ''}%] ` : ''}${e.message}`);
      if (lines.length === LOG_TAIL) lines.unshift(`(the newest ${LOG_TAIL} lines; the whole log comes when the job ends)`);
      setText(lines.join('\n') || '(no log)');
    });
  }, [job.id, job.state]);
  return <pre class="log" data-log={job.id}>{text ?? 'loading…'}</pre>;
}

export function ClientView({ id }: { id: string }) {
  const live = useLive();
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [openJob, setOpenJob] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const stateKey = [...live.jobs.values()].filter((e) => e.clientId === id).map((e) => `${e.jobId}:${e.state}`).join(',');
  useEffect(() => {
    load(id).then(
      (d) => (setDetail(d), setError(null)),
      (e) => setError((e as Error).message),
    );
  }, [id, stateKey, tick]);
  if (!detail) return error ? <ErrorBox error={error} /> : <p>loading…</p>;
  const { client, inventory, states, jobs, images, backup } = detail;
  const tile = tileOf(client, jobs, states, live.jobs);
  return (
    <>
      <nav class="crumbs">
        <a href={href({ view: 'rooms' })}>Rooms</a> › {client.group ? <a href={href({ view: 'room', id: client.group })}>{client.group}</a> : 'no room'} › {client.id}
      </nav>
      <h1>{client.id}</h1>
      <ErrorBox error={error} />
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`dot ${tile.online ? 'on' : ''}`} /> {tile.online ? 'online' : `last seen ${ago(tile.lastSeen)}`}
        </dd>
        {client.lastSeenSite && (
          <>
            <dt>Site</dt>
            <dd data-site>{client.lastSeenSite}</dd>
          </>
        )}
        <dt>MAC</dt>
        <dd>{client.mac ?? '–'}</dd>
        <dt>SMBIOS UUID</dt>
        <dd>{client.uuid ?? '–'}</dd>
        {client.description && (
          <>
            <dt>Description</dt>
            <dd>{client.description}</dd>
          </>
        )}
      </dl>
      {tile.current && (
        <div class="current" data-job={tile.current.jobId}>
          {shortName(tile.current.productId)} · {tile.current.state} <ProgressBar percent={tile.current.percent} label={`${client.id} ${shortName(tile.current.productId)}`} />
          <span class="muted small">{tile.current.message}</span>
          {tile.current.seeding && (
            <span class="muted small seeding" data-seeding>
              {tile.current.seeding}
            </span>
          )}
        </div>
      )}
      <ActionBar target={{ kind: 'client', id: client.id, group: client.group }} products={detail.products} onChanged={() => setTick((t) => t + 1)} />

      <section>
        <h2>Images on the backup partition</h2>
        {images.length ? (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Image</th>
                  <th>Size</th>
                  <th>Created</th>
                  <th>Format</th>
                  <th>Restore uses</th>
                </tr>
              </thead>
              <tbody>
                {images.map((i) => (
                  <tr key={i.name} data-image={i.name}>
                    <td>{i.name}</td>
                    <td data-col="size" title={i.sizeBytes === null ? undefined : `${i.sizeBytes} bytes`}>
                      {i.sizeBytes === null ? 'unknown' : bytes(i.sizeBytes)}
                    </td>
                    <td data-col="created">{i.createdAt ? when(i.createdAt) : 'unknown'}</td>
                    <td data-col="format" title={[i.fsType, i.sourcePartition && `from ${i.sourcePartition}`].filter(Boolean).join(' ') || undefined}>
                      {i.format ?? 'unknown'}
                    </td>
                    <td>{i.selected ? 'selected' : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">No images known (Back up makes one).</p>
        )}
        {backup['free_on_backup'] ? <p class="muted small">Backup partition after the last backup: {String(backup['free_on_backup'])}</p> : null}
      </section>

      <section>
        <h2>Hardware</h2>
        {inventory ? (
          <>
            <dl class="facts">
              <dt>System</dt>
              <dd>{[inventory.system.manufacturer, inventory.system.model].filter(Boolean).join(' ') || '–'}</dd>
              <dt>Serial</dt>
              <dd>{inventory.system.serial ?? '–'}</dd>
              <dt>Firmware</dt>
              <dd>
                {inventory.bios.firmware.toUpperCase()} {[inventory.bios.vendor, inventory.bios.version].filter(Boolean).join(' ')}
              </dd>
              <dt>CPU</dt>
              <dd>
                {inventory.cpu.model ?? '–'} ({inventory.cpu.cores} cores)
              </dd>
              <dt>Memory</dt>
              <dd>{bytes(inventory.memoryBytes)}</dd>
              <dt>Network</dt>
              <dd>{inventory.nics.map((n) => `${n.name} ${n.mac}${n.speedMbps ? ` ${n.speedMbps} Mbit/s` : ''}`).join(', ') || '–'}</dd>
              <dt>Collected</dt>
              <dd>{when(inventory.collectedAt)}</dd>
            </dl>
            <h3>Disks</h3>
            <table>
              <thead>
                <tr>
                  <th>Disk</th>
                  <th>Size</th>
                  <th>Model</th>
                  <th>Kind</th>
                </tr>
              </thead>
              <tbody>
                {inventory.disks.map((d) => (
                  <tr key={d.path}>
                    <td>{d.name}</td>
                    <td>{bytes(d.sizeBytes)}</td>
                    <td>{d.model ?? '–'}</td>
                    <td>
                      {d.rotational ? 'HDD' : 'SSD'} {d.transport ?? ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : (
          <p class="muted">No inventory yet (hwinvent collects it).</p>
        )}
      </section>

      <section>
        <h2>Product states</h2>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Product</th>
                <th>Installed</th>
                <th>Result</th>
                <th>Request</th>
                <th>Run by</th>
              </tr>
            </thead>
            <tbody>
              {states.map((s) => (
                <tr key={s.productId}>
                  <td>{shortName(s.productId)}</td>
                  <td>{s.installationStatus}</td>
                  <td>{s.actionResult}</td>
                  <td>{s.actionRequest}</td>
                  <td>{s.managedBy}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section>
        <h2>Jobs</h2>
        {jobs.length === 0 && <p class="muted">No jobs yet.</p>}
        <ul class="jobs">
          {jobs.map((j) => (
            <li key={j.id} data-job-row={j.id}>
              <button class="link job-line" aria-expanded={openJob === j.id} onClick={() => setOpenJob(openJob === j.id ? null : j.id)}>
                <JobState state={liveEventOf(j, live.jobs)?.state ?? j.state} productId={j.productId} /> <span class="muted small">{when(j.created)}</span>
                {j.site && <span class="muted small" data-job-site> · attempt {j.attempt} at {j.site}</span>}
                {j.error && <span class="bad-text small"> {j.error}</span>}
              </button>
              {openJob === j.id && <JobLog job={j} />}
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
