// Test data on a partition, run in a private mount namespace (see loop.ts `helper`):
//   fill <dev> <ext4|ntfs> <MiB> [prefix]  writes files, prints {manifest: {path: sha256}}
//   verify <dev> <ext4|ntfs> <manifest.json> prints {ok, checked, bad: [...]}
//   write <dev> <ext4|ntfs> <relpath> <text-or-@HIBR>   one small file (hiberfil.sys signature for @HIBR)
//   random <dev> <ext4|ntfs> <relpath> <MiB>  one file of random bytes, prints {sha256}
//   poke <dev> <ext4|ntfs> <relpath> <offset> <bytes>  random bytes written in place at offset (past the end: the file grows)
//   flip <dev> <relpath> <offset>           flip one byte of a file on an ext4 fs (corrupt an image)
//   path <dev>                              lists a directory tree (relative paths)
//   sizes <dev> [relpath...]                 (ext4) every file's size in bytes and the text of the named files: {sizes: {relpath: bytes}, texts: {relpath: text}}
//   change <dev> <ext4|ntfs> <rewrite|replace|new|large|pagefile|rmdir|class>  a change pattern for delta restore tests
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { run } from '../../../lib/process.ts';

const [cmd, dev, a, b, c] = process.argv.slice(2);

async function mounted<T>(device: string, fs: string, fn: (dir: string) => Promise<T>, ro = false): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ni-fsdata-'));
  try {
    if (fs === 'ntfs') await run('ntfs-3g', [...(ro ? ['-o', 'ro'] : []), device, dir]);
    else await run('mount', [...(ro ? ['-o', 'ro'] : []), device, dir]);
  } catch (e) {
    await rmdir(dir);
    throw e;
  }
  try {
    return await fn(dir);
  } finally {
    await run('umount', [dir]);
    await rmdir(dir);
  }
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'lost+found' || e.name.startsWith('$')) continue;
      out.push(...(await walk(p, base)));
    } else if (e.isFile()) out.push(relative(base, p));
  }
  return out.sort();
}

/** A file saved the way editors and installers do: written anew beside it, renamed over it (new blocks, the old ones freed). */
async function replace(dir: string, files: string[]): Promise<void> {
  const rel = files.find((f) => f.endsWith('big-1.bin'))!;
  const size = (await stat(join(dir, rel))).size;
  await writeFile(join(dir, `${rel}.tmp`), randomBytes(size));
  await rename(join(dir, `${rel}.tmp`), join(dir, rel));
}

const sha = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

async function main(): Promise<unknown> {
  switch (cmd) {
    case 'fill': {
      const totalMiB = Number(b);
      const prefix = c ?? 'data';
      return mounted(dev!, a!, async (dir) => {
        const manifest: Record<string, string> = {};
        let written = 0;
        let i = 0;
        // Big files (half random, half compressible) plus a tree of small ones.
        while (written < totalMiB * 1024 * 1024) {
          const size = (4 + (i % 5) * 3) * 1024 * 1024;
          const buf = i % 2 === 0 ? randomBytes(size) : Buffer.from(`${prefix} line ${i} `.repeat(Math.ceil(size / 20)).slice(0, size));
          const rel = join(prefix, `big-${i}.bin`);
          await mkdir(dirname(join(dir, rel)), { recursive: true });
          await writeFile(join(dir, rel), buf);
          manifest[rel] = sha(buf);
          written += size;
          i++;
        }
        for (let k = 0; k < 200; k++) {
          const buf = randomBytes(1024 + ((k * 7919) % 60000));
          const rel = join(prefix, `small/d${k % 10}`, `f${k}.dat`);
          await mkdir(dirname(join(dir, rel)), { recursive: true });
          await writeFile(join(dir, rel), buf);
          manifest[rel] = sha(buf);
        }
        return { manifest, files: Object.keys(manifest).length };
      });
    }
    case 'verify': {
      const manifest = JSON.parse(await readFile(b!, 'utf8')) as Record<string, string>;
      return mounted(
        dev!,
        a!,
        async (dir) => {
          const bad: string[] = [];
          for (const [rel, want] of Object.entries(manifest)) {
            const got = await readFile(join(dir, rel)).then(sha, () => 'missing');
            if (got !== want) bad.push(`${rel}: ${got}`);
          }
          return { ok: bad.length === 0, checked: Object.keys(manifest).length, bad: bad.slice(0, 10), files: (await walk(dir)).length };
        },
        true,
      );
    }
    case 'write': {
      const content = c === '@HIBR' ? Buffer.concat([Buffer.from('HIBR'), Buffer.alloc(65536 - 4)]) : Buffer.from(c ?? '');
      return mounted(dev!, a!, async (dir) => {
        await writeFile(join(dir, b!), content);
        return { ok: true };
      });
    }
    case 'random': {
      const buf = randomBytes(Number(c) * 1024 * 1024);
      return mounted(dev!, a!, async (dir) => {
        await writeFile(join(dir, b!), buf);
        return { sha256: sha(buf) };
      });
    }
    case 'poke': {
      const [offset, bytes] = [Number(c), Number(process.argv[7])];
      return mounted(dev!, a!, async (dir) => {
        const fh = await open(join(dir, b!), 'r+');
        try {
          await fh.write(randomBytes(bytes), 0, bytes, offset);
          await fh.sync();
        } finally {
          await fh.close();
        }
        return { ok: true };
      });
    }
    case 'rm': {
      return mounted(dev!, a!, async (dir) => {
        await run('rm', ['-f', join(dir, b!)]);
        return { ok: true };
      });
    }
    case 'flip': {
      return mounted(dev!, 'ext4', async (dir) => {
        const fh = await open(join(dir, a!), 'r+');
        const off = Number(b);
        const one = Buffer.alloc(1);
        await fh.read(one, 0, 1, off);
        one[0] = one[0]! ^ 0xff;
        await fh.write(one, 0, 1, off);
        await fh.sync();
        await fh.close();
        return { ok: true };
      });
    }
    case 'change': {
      return mounted(dev!, a!, async (dir) => {
        const files = await walk(join(dir, 'data'), dir);
        if (b === 'rewrite') {
          // Small files rewritten in place with new content of the same size.
          for (const rel of files.filter((f) => f.includes('/small/')).slice(0, 30)) {
            const size = (await readFile(join(dir, rel))).length;
            const fh = await open(join(dir, rel), 'r+');
            await fh.write(randomBytes(size), 0, size, 0);
            await fh.close();
          }
        } else if (b === 'new') {
          await mkdir(join(dir, 'new'), { recursive: true });
          for (let i = 0; i < 5; i++) await writeFile(join(dir, 'new', `n${i}.bin`), randomBytes(1024 * 1024));
        } else if (b === 'large') {
          const big = files.find((f) => f.endsWith('big-0.bin'))!;
          const size = (await readFile(join(dir, big))).length;
          const fh = await open(join(dir, big), 'r+');
          await fh.write(randomBytes(size), 0, size, 0);
          await fh.close();
        } else if (b === 'rmdir') {
          await run('rm', ['-rf', join(dir, 'data/small/d3')]);
        } else if (b === 'pagefile' || b === 'class') {
          // Like a pagefile: small pieces rewritten in place at scattered offsets of the largest file.
          const sizes = await Promise.all(files.filter((f) => f.includes('big-')).map(async (f) => [f, (await stat(join(dir, f))).size] as const));
          const [big, size] = sizes.sort((x, y) => y[1] - x[1])[0]!;
          const fh = await open(join(dir, big), 'r+');
          for (let i = 0; i < (b === 'class' ? 4 : 8); i++) {
            const len = (4 + Math.floor(Math.random() * 12)) * 4096;
            await fh.write(randomBytes(len), 0, len, Math.floor(Math.random() * ((size - len) / 4096)) * 4096);
          }
          await fh.close();
          if (b === 'class') {
            // ...plus a file replaced, a new file and a deleted directory: a class's day.
            await replace(dir, files);
            await mkdir(join(dir, 'new'), { recursive: true });
            await writeFile(join(dir, 'new', 'download.bin'), randomBytes(1024 * 1024));
            await run('rm', ['-rf', join(dir, 'data/small/d5')]);
          }
        } else if (b === 'replace') {
          await replace(dir, files);
        } else throw new Error(`unknown change ${b}`);
        await run('sync', []);
        return { ok: true };
      });
    }
    case 'tree': {
      return mounted(dev!, a ?? 'ext4', async (dir) => ({ files: await walk(dir), entries: await readdir(dir) }), true);
    }
    case 'sizes': {
      return mounted(
        dev!,
        'ext4',
        async (dir) => ({
          sizes: Object.fromEntries(await Promise.all((await walk(dir)).map(async (f) => [f, (await stat(join(dir, f))).size] as const))),
          texts: Object.fromEntries(await Promise.all(process.argv.slice(4).map(async (f) => [f, await readFile(join(dir, f), 'utf8')] as const))),
        }),
        true,
      );
    }
    case 'cat': {
      return mounted(dev!, 'ext4', async (dir) => ({ text: await readFile(join(dir, a!), 'utf8') }), true);
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  },
);
