// The agent's settings from the kernel command line (/proc/cmdline), validated: the boot config
// the server rendered put them there (KERNEL_ARGS in lib/agent-protocol.ts).
import { z } from 'zod';
import { KERNEL_ARGS, macAddress } from '../../lib/agent-protocol.ts';

export const agentCmdline = z.object({
  server: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'an http(s) URL')
    .transform((u) => u.replace(/\/+$/, '')),
  job: z.string().min(1).max(200),
  token: z.string().regex(/^[0-9a-fA-F]{16,128}$/, 'a hex token'),
  mac: macAddress.nullable(),
  debug: z.boolean(),
  /** Seconds init waits before rebooting after a failure (init reads it; the agent only reports it). */
  rebootDelay: z.number().int().nonnegative(),
});
export type AgentCmdline = z.infer<typeof agentCmdline>;

/** Split a kernel command line into key -> value (a bare key maps to ''); double quotes group. */
export function tokenizeCmdline(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const words = text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  for (const w of words) {
    const unq = w.replace(/"/g, '');
    const eq = unq.indexOf('=');
    if (eq < 0) out.set(unq, '');
    else out.set(unq.slice(0, eq), unq.slice(eq + 1));
  }
  return out;
}

export function parseCmdline(text: string): AgentCmdline {
  const kv = tokenizeCmdline(text);
  const missing = [KERNEL_ARGS.server, KERNEL_ARGS.job, KERNEL_ARGS.token].filter((k) => !kv.has(k));
  if (missing.length) throw new Error(`kernel command line lacks ${missing.join(', ')}`);
  const debug = kv.get(KERNEL_ARGS.debug);
  const delay = kv.get('netimage.reboot_delay');
  const parsed = agentCmdline.safeParse({
    server: kv.get(KERNEL_ARGS.server),
    job: kv.get(KERNEL_ARGS.job),
    token: kv.get(KERNEL_ARGS.token),
    mac: kv.get(KERNEL_ARGS.mac) ?? null,
    debug: debug === '1' || debug === 'true' || debug === '',
    rebootDelay: delay === undefined || delay === '' ? 30 : Number(delay),
  });
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`bad kernel command line: ${why}`);
  }
  return parsed.data;
}
