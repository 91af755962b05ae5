// Environment for a `netimage serve` child in a temp dir: loopback HTTP on a free port, no TFTP
// or DHCP, CLI credentials under the temp dir, no saved server URL or token from the caller.
import { join } from 'node:path';

export function serveEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'config'),
    NETIMAGE_DATA_DIR: join(dir, 'data'),
    NETIMAGE_HTTP_HOST: '127.0.0.1',
    NETIMAGE_HTTP_PORT: '0',
    NETIMAGE_TFTP_ENABLED: 'false',
    NETIMAGE_DHCP_MODE: 'off',
    NETIMAGE_LOG_LEVEL: 'warn',
    ...extra,
  };
  delete env['NETIMAGE_URL'];
  delete env['NETIMAGE_TOKEN'];
  return env;
}
