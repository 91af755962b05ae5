// The name of this bootserver's site (config site.name), recorded on the jobs it serves and the
// clients it sees, so the admin API of any server shows where each PC booted.
import { hostname } from 'node:os';

/** The configured site name, else one made from the host name's first label. Pure but for the default host. */
export function siteName(config: { site: { name: string | null } }, host: string = hostname()): string {
  if (config.site.name) return config.site.name;
  const made = (host.split('.')[0] ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return made || 'site';
}
