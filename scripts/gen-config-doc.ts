// Writes docs/configuration.md from the config schema, so the doc cannot drift from the code.
// Run: node scripts/gen-config-doc.ts   (test/bootserver/config-doc.test.ts checks it is current)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../bootserver/config/schema.ts';
import { environmentKeys } from '../bootserver/config/load.ts';
import { repoRoot } from '../lib/paths.ts';

export function renderConfigDoc(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const get = (key: string) => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults);
  const rows = environmentKeys().map(({ key, env }) => {
    let value = JSON.stringify(get(key));
    if (key === 'dataDir' || key.startsWith('paths.')) value = value.replace(repoRoot, '<checkout>');
    return `| \`${key}\` | \`${env}\` | \`${value}\` |`;
  });
  return `# Configuration

netimage reads one YAML file and then \`NETIMAGE_*\` environment variables; both are optional.
The file is \`--config FILE\`, else \`$NETIMAGE_CONFIG\`, else \`/etc/netimage/netimage.yaml\` if it exists.
Every value is checked (zod): a wrong value or an unknown key stops the server with one line naming
the key, the value, where it came from and what is allowed; the process exits non-zero.

Environment values are read as YAML scalars (\`true\`, \`8080\`, \`null\`); list values may be
comma-separated (\`NETIMAGE_BOOT_HOST_IDENTIFIERS=uuid,mac\`). \`NETIMAGE_BOOT_ROOT\` is accepted for
\`paths.bootRoot\` (the set-up scripts use the same variable to place loaders and the boot image).

Example \`/etc/netimage/netimage.yaml\` for an isolated lab:

\`\`\`yaml
advertisedIp: 10.10.0.1
dhcp:
  mode: full
  interface: enp3s0
  full:
    rangeStart: 10.10.0.100
    rangeEnd: 10.10.0.250
    router: 10.10.0.1
boot:
  maxAttempts: 3
\`\`\`

## All keys

This table is generated from the schema (\`node scripts/gen-config-doc.ts\`).

| key | environment | default |
|---|---|---|
${rows.join('\n')}

## What the keys mean

- \`dataDir\`: the embedded store (\`netimage.sqlite\`) and DHCP leases (\`dhcp-leases.sqlite\`); one server per data dir: a running server's pid is in \`server.pid\`, and a second \`serve\` on the same data dir (another port, a second terminal beside the service) refuses to start, naming it (a file left by a killed server, or from before a reboot, is taken over: the file also holds the server's start time and the boot id, and only that very process keeps it; [admin-guide.md](admin-guide.md#running-as-a-system-service)). Several servers share a store through PostgreSQL, each with its own data dir ([multi-server.md](multi-server.md)).
- \`store.url\`: \`null\` keeps the store in \`dataDir\` (SQLite). A \`postgres://\` URL puts it in a PostgreSQL database several servers can share (C collation; see [multi-server.md](multi-server.md); \`netimage store migrate --to URL\` copies an SQLite store there). The URL may hold a password: keep the config file private.
- \`paths.bootRoot\`: loaders and boot image, served over TFTP (root) and HTTP (\`/boot/\`); filled by set-up.
- \`advertisedIp\`: the address clients reach us on (DHCP next-server/server-id, URLs). null: the first non-internal IPv4 address.
- \`http.*\`: admin API, agent API and boot files. 8080 so a developer can run unprivileged.
- \`tftp.*\`: 69 for real firmware; blksize and windowsize caps (RFC 2348/7440).
- \`dhcp.mode\`: \`proxy\` answers PXE clients only, beside the site's DHCP server (default); \`full\` also hands out addresses from \`dhcp.full\` (isolated labs); \`off\`.
- \`dhcp.interface\` / \`dhcp.subnet\`: only answer requests from that interface's networks / that CIDR.
- \`boot.hostIdentifiers\`: order in which a booting client is looked up (as opsi's \`netboot.host_identifiers\`).
- \`boot.bootUnknownClients\`: unknown PCs are registered and get the non-destructive \`hwinvent\` only; off by default (local boot).
- \`boot.maxAttempts\`: boots without a reported result before a job gives up. Unlike opsi, reading the boot config does not consume the action request, so a power loss retries.
- \`boot.sameBootWindowSeconds\`: ignored (deprecated). A config read starts a new attempt only when the previous attempt had reached the agent (a power loss mid-job), so firmware retries and spoofed reads never use up attempts; the key is still accepted so existing config files load.
- \`boot.kernelTransport\`: \`tftp\` works everywhere, also with Secure Boot; \`http\` needs Secure Boot off (grub's http module is unsigned) and is not faster: grub's HTTP took 2.1 s longer than its TFTP for kernel and stage 1 under emulation (docs/performance.md, "Session 16"), so \`tftp\` is the one to use.
- \`boot.initrd\`: \`two-stage\` (default) has grub load only stage 1 (init, busybox, every PC NIC driver: 6.0 MB where the whole image is 53.8 MB) and the PC fetch stage 2 over HTTP from this server with the kernel's TCP, checked against the sha256 pinned in stage 1 (docs/bootimage.md, "Two stages"); \`single\` has grub load the whole boot image over TFTP, for a PC whose only NIC is a data-centre one (Mellanox, QLogic, Chelsio, ...: their drivers are in the single initrd only). Secure Boot is unaffected: grub still verifies the kernel only. Both need the PC to reach the server's HTTP port from the boot image, as the agent does anyway.
- \`boot.extraKernelArgs\`, \`boot.debug\` (shell on agent failure), \`boot.serialConsole\`, \`boot.afterJob\` (\`reboot\` or \`poweroff\`).
- \`log.level\`: pino level.
- \`schedules.enabled\`: \`false\` keeps schedules without running them (a standby server).
- Time zone (no key): the server's zone is the one its process runs in, the system's (\`timedatectl set-timezone Europe/Berlin\`) or \`TZ=Europe/Berlin\` in its environment (a systemd drop-in: \`Environment=TZ=Europe/Berlin\`). Schedules without \`--tz\` are read in it, and the CLI shows times in it (it learns it from \`GET /api/v1/health\`); see [admin-guide.md](admin-guide.md#users-roles-and-the-audit-log), "Times in the CLI".
`;
}

if (import.meta.main) {
  writeFileSync(join(repoRoot, 'docs', 'configuration.md'), renderConfigDoc());
  console.log('wrote docs/configuration.md');
}
