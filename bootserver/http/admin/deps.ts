// What the admin route modules are given: the services they adapt to.
import type { AdminService } from '../../service/admin.ts';
import type { NetbootService } from '../../service/netboot.ts';
import type { EventTickets } from '../../service/event-tickets.ts';
import type { Client, Store } from '../../store/types.ts';
import type { ClientNoticeBus } from '../../service/event-bus.ts';
import type { WakeService } from '../../wol/service.ts';
import type { UserService } from '../../auth/users.ts';
import type { LoginLimiter } from '../../auth/login-limiter.ts';
import type { SessionSettings } from '../../auth/sessions.ts';

/** Users, logins and sessions (bootserver/auth). */
export interface AuthDeps {
  users: UserService;
  limiter: LoginLimiter;
  settings: SessionSettings;
}

export interface AdminApiDeps {
  /** For authentication (auth.ts), sessions and the audit log. */
  store: Store;
  auth: AuthDeps;
  admin: AdminService;
  service: NetbootService;
  tickets: EventTickets;
  /** Operator features, when running: each client's latest wake in client views ... */
  wake?: WakeService | undefined;
  /** ... and client notices (did not wake) in the event stream. */
  notices?: ClientNoticeBus | undefined;
}

/** A client as listed by the API: the inventory is fetched on its own route. */
export function clientView(c: Client) {
  const { inventory, ...rest } = c;
  return { ...rest, hasInventory: inventory !== null };
}
