// Schema migrations of the embedded store, applied in order, each once, inside a transaction.
// Append new migrations; never edit one that has shipped.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

      CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT ''
      );

      CREATE TABLE clients (
        id TEXT PRIMARY KEY,
        mac TEXT UNIQUE,
        uuid TEXT UNIQUE,
        group_id TEXT REFERENCES groups(id) ON DELETE SET NULL,
        description TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '',
        inventory TEXT,
        created TEXT NOT NULL,
        modified TEXT NOT NULL
      );
      CREATE INDEX clients_group ON clients(group_id);

      CREATE TABLE products (
        id TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        definition TEXT NOT NULL
      );

      CREATE TABLE product_on_client (
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
        action_request TEXT NOT NULL DEFAULT 'none',
        installation_status TEXT NOT NULL DEFAULT 'not_installed',
        action_result TEXT NOT NULL DEFAULT 'none',
        action_progress TEXT NOT NULL DEFAULT '',
        last_action TEXT NOT NULL DEFAULT 'none',
        product_version TEXT,
        modified TEXT NOT NULL,
        PRIMARY KEY (client_id, product_id)
      );

      CREATE TABLE property_values (
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (client_id, product_id, name)
      );

      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        product_id TEXT NOT NULL,
        action_request TEXT NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        token_hash TEXT UNIQUE,
        percent REAL,
        error TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        attempt_started TEXT,
        finished TEXT
      );
      CREATE INDEX jobs_client ON jobs(client_id, state);

      CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        percent REAL,
        message TEXT NOT NULL
      );
      CREATE INDEX job_events_job ON job_events(job_id, id);

      CREATE TABLE job_logs (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        text TEXT NOT NULL
      );

      CREATE TABLE admin_tokens (
        hash TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        created TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'job events remember the job state they were recorded in',
    sql: `ALTER TABLE job_events ADD COLUMN state TEXT;`,
  },
  {
    version: 3,
    name: 'wake-on-lan targets and records, schedules and their runs',
    // Plain SQL that PostgreSQL accepts too (TEXT times in ISO 8601, JSON in TEXT).
    sql: `
      CREATE TABLE group_wake_targets (
        group_id TEXT PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
        broadcast TEXT NOT NULL,
        port INTEGER NOT NULL
      );

      CREATE TABLE wake_records (
        client_id TEXT PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        address TEXT NOT NULL,
        sent TEXT NOT NULL,
        deadline TEXT NOT NULL,
        updated TEXT NOT NULL
      );
      CREATE INDEX wake_records_status ON wake_records(status, deadline);

      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        at TEXT,
        cron TEXT,
        timezone TEXT,
        target_kind TEXT NOT NULL,
        target_id TEXT NOT NULL,
        product_id TEXT,
        action_request TEXT NOT NULL,
        properties TEXT NOT NULL,
        wake INTEGER NOT NULL,
        missed_policy TEXT NOT NULL,
        late_window_seconds INTEGER NOT NULL,
        enabled INTEGER NOT NULL,
        next_run TEXT,
        last_run TEXT,
        created TEXT NOT NULL,
        modified TEXT NOT NULL
      );

      CREATE TABLE schedule_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
        due TEXT NOT NULL,
        handled TEXT NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX schedule_runs_schedule ON schedule_runs(schedule_id, id);
    `,
  },
  {
    version: 4,
    name: 'states of products netimage does not run, per client (were meta rows)',
    // The table is plain SQL. The one-off move of the old meta rows uses SQLite's JSON functions:
    // only the SQLite store ever wrote them (a PostgreSQL store starts with this table).
    sql: `
      CREATE TABLE foreign_product_states (
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        product_id TEXT NOT NULL,
        action_request TEXT NOT NULL DEFAULT 'none',
        installation_status TEXT NOT NULL DEFAULT 'not_installed',
        action_result TEXT NOT NULL DEFAULT 'none',
        action_progress TEXT NOT NULL DEFAULT '',
        last_action TEXT NOT NULL DEFAULT 'none',
        product_version TEXT,
        modified TEXT NOT NULL,
        PRIMARY KEY (client_id, product_id)
      );

      INSERT INTO foreign_product_states(client_id, product_id, installation_status, action_result, last_action, product_version, modified)
        SELECT m.client_id, json_extract(j.value, '$.productId'),
          COALESCE(json_extract(j.value, '$.installationStatus'), 'unknown'),
          COALESCE(json_extract(j.value, '$.actionResult'), 'none'),
          COALESCE(json_extract(j.value, '$.lastAction'), 'none'),
          json_extract(j.value, '$.productVersion'),
          strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM (SELECT substr(key, 24) AS client_id, value FROM meta
              WHERE key LIKE 'foreign-product-states:%' AND json_valid(value) AND json_type(value) = 'array'
                AND substr(key, 24) IN (SELECT id FROM clients)) AS m,
          json_each(m.value) AS j
        WHERE json_type(j.value, '$.productId') = 'text'
        ON CONFLICT (client_id, product_id) DO NOTHING;
      DELETE FROM meta WHERE key LIKE 'foreign-product-states:%';
    `,
  },
  {
    version: 5,
    name: 'users, their API tokens, UI sessions and the audit log',
    // Plain SQL for PostgreSQL too; group ids, clients and details are JSON text.
    sql: `
      CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        group_ids TEXT NOT NULL,
        password_hash TEXT,
        created TEXT NOT NULL,
        modified TEXT NOT NULL
      );

      CREATE TABLE user_tokens (
        hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created TEXT NOT NULL,
        last_used TEXT,
        UNIQUE (user_name, name)
      );

      CREATE TABLE sessions (
        hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        idle_seconds INTEGER NOT NULL,
        expires TEXT NOT NULL,
        source TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions(user_name);

      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        via TEXT NOT NULL,
        source TEXT NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        clients TEXT NOT NULL,
        detail TEXT NOT NULL,
        status INTEGER NOT NULL
      );
      CREATE INDEX audit_log_actor ON audit_log(actor, id);
    `,
  },
  {
    version: 6,
    name: 'OS installs waiting for their first-boot report (issue 11)',
    sql: `
      CREATE TABLE os_installs (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
        product_id TEXT NOT NULL,
        state TEXT NOT NULL,
        token_hash TEXT UNIQUE,
        token_expires TEXT,
        deadline TEXT,
        report TEXT,
        updated TEXT NOT NULL
      );
      CREATE INDEX os_installs_state ON os_installs(state);
      CREATE INDEX os_installs_client ON os_installs(client_id, product_id);
    `,
  },
];
