// The Debian root filesystem test/os-images/build-real.test.ts builds into the test cache
// (NETIMAGE_TEST_CACHE, default ~/.cache/netimage-test). Install tests use those real bytes; on a
// fresh machine they wait for that build (it runs in the same pass) instead of building twice.
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const TEST_DEPOT = join(process.env['NETIMAGE_TEST_CACHE'] ?? join(homedir(), '.cache', 'netimage-test'), 'os-images-test', 'depot');

export interface CachedRootfs {
  name: string;
  /** The depot entry's folder: manifest.json and the chunked image's files. */
  dir: string;
}

async function find(): Promise<CachedRootfs | null> {
  const dir = join(TEST_DEPOT, 'rootfs');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('debian-12-'));
  // Newest first: an entry of an older recipe may still sit beside the current one.
  const found: (CachedRootfs & { created: string })[] = [];
  for (const name of names) {
    const manifest = JSON.parse(await readFile(join(dir, name, 'manifest.json'), 'utf8').catch(() => 'null')) as { created?: string; files: { path: string; size: number; sha256: string }[] } | null;
    // An entry of the current recipe is an ext4 chunked image (older ones were tar streams).
    if (manifest?.files.some((x) => x.path === 'image.pcl.zst')) found.push({ name, dir: join(dir, name), created: manifest.created ?? '' });
  }
  const newest = found.sort((a, b) => b.created.localeCompare(a.created))[0];
  return newest ? { name: newest.name, dir: newest.dir } : null;
}

/** The cached entry; polls (every 10 s) until `deadlineMs` for the real build to land it. */
export async function cachedRootfs(deadlineMs: number): Promise<CachedRootfs> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const found = await find();
    if (found) return found;
    if (Date.now() > end) throw new Error(`no debian-12 root filesystem in ${TEST_DEPOT}: run test/os-images/build-real.test.ts (it builds and caches one)`);
    await new Promise((r) => setTimeout(r, 10_000));
  }
}
