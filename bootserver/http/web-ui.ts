// The web UI at /: the files Vite built from ui/ (scripts/setup.d/60-ui.sh → var/ui), served as
// they are. The file list is read once when the server starts and each file gets its own exact
// route, so no request path ever reaches the file system (no traversal to guard against). Built
// asset names carry a content hash: they are cached for good; index.html is revalidated.
import { readFile, readdir } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { repoRoot } from '../../lib/paths.ts';

export const DEFAULT_UI_ROOT = join(repoRoot, 'var', 'ui');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

// Everything comes from this server: no CDN, no inline script, no framing by other sites.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}

/** Registers GET / and one route per built file; without a build, / says how to make one. */
export async function registerWebUi(app: FastifyInstance, options: { uiRoot?: string } = {}): Promise<void> {
  const root = options.uiRoot ?? DEFAULT_UI_ROOT;
  let files: string[];
  try {
    files = await listFiles(root);
  } catch {
    files = [];
  }
  if (!files.includes('index.html')) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.status(503).type('text/plain; charset=utf-8').send(`the web UI is not built (${root} has no index.html): run \`bash run.sh setup\`\n`),
    );
    return;
  }
  const send = (reply: FastifyReply, body: Buffer, file: string) =>
    reply
      .headers(SECURITY_HEADERS)
      .header('content-type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream')
      .header('cache-control', file.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(body);
  for (const file of files) {
    const body = await readFile(join(root, file));
    const handler = async (_req: unknown, reply: FastifyReply) => send(reply, body, file);
    app.get(`/${file}`, { schema: { hide: true } }, handler);
    if (file === 'index.html') app.get('/', { schema: { hide: true } }, handler);
  }
}
