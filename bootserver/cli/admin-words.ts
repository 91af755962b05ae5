// The server names a refused field as its API does ("body.actionRequest: ..."); the admin typed
// `--request`. One table from API fields to what the CLI reads them from, applied to every error
// answer the CLI prints (api-client.ts), so a new command gets it without code of its own. A field
// the table does not know keeps its API name (still exact, only less friendly).

/** Body fields of the admin API -> the CLI option (or operand) that fills them. */
const BODY: Readonly<Record<string, string>> = {
  actionRequest: '--request',
  mac: '--mac',
  uuid: '--uuid',
  group: '--group',
  description: '--description',
  role: '--role',
  groups: '--groups',
  password: 'the password',
  port: '--port',
  broadcast: 'the broadcast address',
  packages: '--packages',
  mirror: '--mirror',
  proxy: '--proxy',
  wake: '--wake',
  at: '--at',
  every: '--every',
  cron: '--cron',
  timezone: '--tz',
  missedPolicy: '--missed',
  lateWindowSeconds: '--late-window',
  id: 'the name',
  name: 'the name',
  os: 'the OS',
  productId: 'the product',
};

/** Query parameters -> options (GET lists: os installs --state, audit --since, jobs --client). */
const QUERY: Readonly<Record<string, string>> = {
  state: '--state',
  since: '--since',
  limit: '--limit',
  actor: '--actor',
  group: '--group',
  client: '--client',
};

/** `:id`-style path parameters: the operand the admin typed. */
const PARAMS: Readonly<Record<string, string>> = {
  id: 'the name',
  name: 'the name',
  productId: 'the product',
  tokenName: 'the token name',
};

const TABLES: Readonly<Record<string, Readonly<Record<string, string>>>> = { body: BODY, querystring: QUERY, params: PARAMS };

/** "body.actionRequest: x" -> "--request: x"; "body.properties.imagefile: x" -> "--prop imagefile: x". */
export function inAdminWords(message: string): string {
  return message.replace(/\b(body|querystring|params)\.([A-Za-z]\w*)((?:\.[\w-]+)*)/g, (all, where: string, field: string, rest: string) => {
    const sub = rest.slice(1);
    if (where === 'body' && field === 'properties') return sub ? `--prop ${sub}` : '--prop';
    const word = TABLES[where]?.[field];
    if (!word) return all;
    // A list's item by its place as the admin counts (packages.0 is the first package typed).
    const place = /^\d+$/.test(sub) ? `item ${Number(sub) + 1}` : sub;
    return place ? `${word} (${place})` : word;
  });
}
