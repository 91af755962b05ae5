// The server's own base URL for what leaves with a PC (an installed system's first-boot report
// URL, Windows' completion URL). A Host header is the client's word: anyone who can reach the
// agent API with a job token could otherwise have another server's URL written into an installed
// PC. So: the configured http.publicUrl when set; else the request's Host only when it names an
// address this server really has (advertisedIp, the address the connection arrived at, one of
// this machine's interfaces) on the port it listens on; else that arrival address itself.
import { networkInterfaces } from 'node:os';

export interface ServerAddressConfig {
  publicUrl: string | null;
  advertisedIp: string | null;
}

export interface ArrivedRequest {
  protocol: 'http' | 'https';
  /** The Host header as sent (may be empty). */
  host: string;
  /** Local address and port of the connection, when known (fastify's inject has none). */
  localAddress: string | undefined;
  localPort: number | undefined;
}

export interface BaseUrlChoice {
  url: string;
  /** The Host header when it was not used because it names no address of this server. */
  refusedHost: string | null;
}

const bare = (address: string) => address.replace(/^\[|\]$/g, '').replace(/^::ffff:(?=\d+\.)/, '').toLowerCase();
const hostPart = (address: string) => (address.includes(':') ? `[${address}]` : address);

/** This machine's interface addresses (what a PC can have reached the server at). */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => bare(i.address)));
}

/**
 * The base URL (no trailing slash) for URLs written into a PC, from the config and the request.
 * `listenPort`: the HTTP port this server listens on; `known`: this machine's addresses. Pure.
 */
export function serverBaseUrl(config: ServerAddressConfig, req: ArrivedRequest, listenPort: number, known: readonly string[]): BaseUrlChoice {
  if (config.publicUrl) return { url: config.publicUrl.replace(/\/+$/, ''), refusedHost: null };
  const port = req.localPort ?? listenPort;
  const addresses = new Set([...known.map(bare), ...(config.advertisedIp ? [config.advertisedIp] : []), ...(req.localAddress ? [bare(req.localAddress)] : [])]);
  let parsed: URL | null = null;
  try {
    parsed = req.host ? new URL(`${req.protocol}://${req.host}`) : null;
  } catch {
    parsed = null;
  }
  // Only host[:port]: a Host with a user, path or anything else is not an address.
  const exact = parsed && `${parsed.host}` === req.host.toLowerCase() && !parsed.username && parsed.pathname === '/';
  const hostPort = parsed ? Number(parsed.port || (req.protocol === 'https' ? 443 : 80)) : Number.NaN;
  if (parsed && exact && addresses.has(bare(parsed.hostname)) && hostPort === port) return { url: `${req.protocol}://${parsed.host}`, refusedHost: null };
  const own = config.advertisedIp ?? (req.localAddress ? bare(req.localAddress) : null) ?? known.find((a) => a !== '127.0.0.1' && a !== '::1') ?? '127.0.0.1';
  return { url: `${req.protocol}://${hostPart(own)}:${port}`, refusedHost: req.host || null };
}
