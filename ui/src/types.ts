// The API's shapes, taken from the server's own code (type-only imports: nothing of the server is
// bundled), so a change on the server side breaks the UI's type check instead of the UI at run time.
import type { z } from 'zod';
import type { Group, Job, JobEventRecord, ProductDefinition, WakeRecord } from '../../bootserver/store/types.ts';
import type { LiveJobEvent, ClientNotice } from '../../bootserver/service/event-bus.ts';
import type { ProductStateView } from '../../bootserver/service/admin.ts';
import type { ClientImageView } from '../../bootserver/service/client-images.ts';
import type { clientView } from '../../bootserver/http/admin/deps.ts';
import type { actionBody, groupActionBody } from '../../bootserver/http/schemas.ts';
import type { AgentInventory } from '../../lib/agent-protocol.ts';
import type { DepotListEntry } from '../../bootserver/depot/http.ts';

export type { Group, Job, JobEventRecord, ProductDefinition, LiveJobEvent, ClientNotice, ProductStateView, AgentInventory, ClientImageView, DepotListEntry };
/** A client as GET /api/v1/clients lists it (wake only while the operator features run). */
export type ClientView = ReturnType<typeof clientView> & { wake?: WakeRecord | null };
export type GroupActionBody = z.input<typeof groupActionBody>;
export type ActionBody = z.input<typeof actionBody>;
export type PropertyValues = NonNullable<GroupActionBody['properties']>;

/** POST /api/v1/groups/:id/action */
export interface GroupActionResult {
  clients: string[];
  imagefile: string | null;
  /** What could not follow the committed action (e.g. no multicast session: the PCs fetch by unicast). */
  warnings?: string[];
}

/** The signed-in user of a session (GET /api/v1/session). */
export interface SessionUser {
  name: string;
  role: string;
  groups: string[];
}
