import type { PgCluster } from '../helpers/pg-cluster.ts';
export function registerMigrateTests(_cluster: () => PgCluster): void {}
