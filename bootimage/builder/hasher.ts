// Stage: stage 1's sha256 (bootimage/native/sha256.c), the hasher init checks stage 2 with
// (docs/bootimage.md "Two stages"). Built on the build host with gcc, without libc, around
// OpenSSL's x86-64 assembly taken from the host's libcrypto.a (libssl-dev, already needed by the
// chunk helpers: scripts/setup.d/10-apt.sh). Both the source and libcrypto.a are build inputs.
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lib/process.ts';

export const HASHER_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../native/sha256.c');
export const LIBCRYPTO_A = '/usr/lib/x86_64-linux-gnu/libcrypto.a';
/** Stage-relative: beside the chunk helpers (imaging/chunked/native.ts BOOT_IMAGE_HELPER_DIR). */
export const HASHER_PATH = 'usr/libexec/netimage/sha256';
/** libcrypto.a's members: the SHA-256 block function and the CPUID probe it reads. */
const OBJECTS = ['libcrypto-lib-sha256-x86_64.o', 'libcrypto-lib-x86_64cpuid.o'];

/** Compiles the hasher into `out` (a file path); returns its size. */
export async function buildHasher(out: string, workDir: string): Promise<number> {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  await run('ar', ['x', LIBCRYPTO_A, ...OBJECTS], { cwd: workDir });
  mkdirSync(dirname(out), { recursive: true });
  await run('gcc', [
    '-Os', '-Wall', '-Wextra', '-Werror', '-static', '-nostdlib', '-ffreestanding', '-fno-stack-protector',
    '-fno-asynchronous-unwind-tables', '-fno-pie', '-no-pie', '-Wl,--gc-sections', '-Wl,--build-id=none',
    '-o', out, HASHER_SOURCE, ...OBJECTS.map((o) => join(workDir, o)),
  ]);
  await run('strip', [out]);
  rmSync(workDir, { recursive: true, force: true });
  return statSync(out).size;
}

export async function stageHasher(stage: string, workDir: string): Promise<number> {
  const built = join(workDir, 'sha256');
  const bytes = await buildHasher(built, join(workDir, 'objects'));
  mkdirSync(dirname(join(stage, HASHER_PATH)), { recursive: true });
  copyFileSync(built, join(stage, HASHER_PATH));
  chmodSync(join(stage, HASHER_PATH), 0o755);
  return bytes;
}
