// The web UI's room view under a busy room: N PCs whose jobs report progress once a second (as the
// agent does), the page open in Debian's chromium. Measures what the admin feels: frames the page
// draws per second, main-thread time in long tasks (> 50 ms: input waits that long), and how old
// the newest percent is when the page shows it.
//
//   node bench/ui-live.ts [--pcs 500] [--seconds 15] [--ref DIR]
//
// --ref: another checkout (e.g. `git worktree add /tmp/ni-ref <commit>`, node_modules linked,
// `node ui/build.ts` run there) served the same way in the same run, as the reference.
// Each side is `netimage serve` of its checkout on loopback with a fresh data dir (test/helpers/cli.ts).
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchBrowser, signIn } from '../test/ui/helpers/browser.ts';
import { parseNetbootConfig } from '../test/helpers/server.ts';
import { spawnServe, type ServeProcess } from '../test/helpers/cli.ts';

const { values } = parseArgs({ options: { pcs: { type: 'string', default: '500' }, seconds: { type: 'string', default: '15' }, ref: { type: 'string' } } });
const PCS = Number(values.pcs);
const SECONDS = Number(values.seconds);
const PASSWORD = 'bench bench bench';

interface Side {
  name: string;
  url: string;
  token: string;
  serve: ServeProcess;
}

async function serve(name: string, checkout: string): Promise<Side> {
  const s = await spawnServe({}, checkout);
  return { name, url: s.url, token: s.token, serve: s };
}

async function call(side: Side, method: string, path: string, body?: unknown, token = side.token, type = 'application/json'): Promise<unknown> {
  const res = await fetch(side.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': type }) }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** At most `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function measure(side: Side): Promise<Record<string, string>> {
  const macs = Array.from({ length: PCS }, (_, i) => `52:54:00:9b:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  await call(side, 'POST', '/api/v1/groups', { id: 'busy' });
  await call(side, 'POST', '/api/v1/clients/import', 'hostname,mac,uuid,group\n' + macs.map((m, i) => `pc${String(i).padStart(3, '0')},${m},,busy`).join('\n') + '\n', side.token, 'text/csv');
  await call(side, 'POST', '/api/v1/groups/busy/action', { productId: 'hwinvent', actionRequest: 'setup' });
  const tokens: string[] = [];
  await pool(macs, 20, async (mac) => {
    const job = parseNetbootConfig(await (await fetch(`${side.url}/boot/grub/client/efi/mac-${mac}/uuid-.cfg`)).text())!;
    await call(side, 'GET', '/agent/v1/job', undefined, job.token);
    tokens.push(job.token);
  });
  await call(side, 'POST', '/api/v1/users', { name: 'bench', role: 'admin', password: PASSWORD });
  const { browser, close } = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(side.url + '/');
    await signIn(page, 'bench', PASSWORD);
    await page.goto(side.url + '/#/room/busy');
    const last = `pc${String(PCS - 1).padStart(3, '0')}`;
    await page.locator(`a.tile[data-client="${last}"]`).waitFor();
    // In the page (a string: this file has no DOM types): frames drawn, long tasks.
    await page.evaluate(`(() => {
      const b = (window.bench = { frames: 0, long: 0, longest: 0 });
      const tick = () => { b.frames++; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) { b.long += e.duration; b.longest = Math.max(b.longest, e.duration); }
      }).observe({ type: 'longtask' });
    })()`);
    const started = performance.now();
    let round = 0;
    let lag = 0;
    for (; round < SECONDS; round++) {
      const at = performance.now();
      const percent = round + 1;
      await pool(tokens, 25, (token) => call(side, 'POST', '/agent/v1/job/progress', { percent, message: `step ${percent}` }, token));
      // How long until the page shows the round's percent on the last PC's tile.
      const shown = performance.now();
      await page.locator(`a.tile[data-client="${last}"] [data-percent="${percent}"]`).waitFor({ timeout: 60_000 });
      lag = Math.max(lag, performance.now() - shown);
      const wait = at + 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const seconds = (performance.now() - started) / 1000;
    const b = (await page.evaluate('window.bench')) as { frames: number; long: number; longest: number };
    return {
      side: side.name,
      pcs: String(PCS),
      events: String(PCS * round),
      seconds: seconds.toFixed(1),
      'frames/s': (b.frames / seconds).toFixed(1),
      'long tasks ms/s': (b.long / seconds).toFixed(0),
      'longest task ms': b.longest.toFixed(0),
      'newest percent shown after ms (max)': lag.toFixed(0),
    };
  } finally {
    await close();
  }
}

const sides: [string, string][] = [...(values.ref ? [['reference', resolve(values.ref)] as [string, string]] : []), ['this checkout', resolve(import.meta.dirname, '..')]];
const rows: Record<string, string>[] = [];
for (const [name, checkout] of sides) {
  const side = await serve(name, checkout);
  try {
    rows.push(await measure(side));
    console.log(JSON.stringify(rows.at(-1)));
  } finally {
    await side.serve.stop();
  }
}
const keys = Object.keys(rows[0]!);
console.log(`\n| ${keys.join(' | ')} |\n|${keys.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${keys.map((k) => r[k]).join(' | ')} |`);
if (rows.length === 2) {
  const [ref, ours] = rows as [Record<string, string>, Record<string, string>];
  const ratio = (k: string) => (Number(ours[k]) / Math.max(1e-9, Number(ref[k]))).toFixed(2);
  console.log(`\nthis checkout / reference: frames/s ${ratio('frames/s')}×, long tasks ${ratio('long tasks ms/s')}×, newest percent shown ${ratio('newest percent shown after ms (max)')}×`);
}
await writeFile(join(tmpdir(), 'ui-live-last.json'), JSON.stringify(rows, null, 2));
