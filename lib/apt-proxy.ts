// apt's proxy setting, the one text both the server's root-filesystem build (mmdebstrap) and the
// agent's Linux install write. Pure.
import { NetimageError } from './errors.ts';
import { hideUrlPasswords } from './redact.ts';

/**
 * `Acquire::http(s)::Proxy` lines for an http(s) proxy URL (it may carry user:password, so callers
 * write it to a 0600 file, never a command line). A quote, a space or a line break would end apt's
 * string and start options of its own: refused, with the password hidden in the message.
 */
export function aptProxyConf(proxy: string, comment?: string): string {
  if (!/^https?:\/\/[^\s"]+$/.test(proxy)) throw new NetimageError('invalid', `proxy "${hideUrlPasswords(proxy)}" is not an http(s) URL (no quotes, spaces or line breaks)`);
  return `${comment ? `// ${comment}\n` : ''}Acquire::http::Proxy "${proxy}";\nAcquire::https::Proxy "${proxy}";\n`;
}
