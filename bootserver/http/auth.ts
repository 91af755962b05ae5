// Bearer-token checks. Admin tokens are random and stored as sha256; agent tokens are the
// one-time job tokens (checked by the service, which maps them to a job).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../store/types.ts';
import { sha256Hex } from '../service/tokens.ts';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1]! : null;
  }
  return null;
}

function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .status(401)
    .header('www-authenticate', 'Bearer realm="netimage"')
    .send({ statusCode: 401, error: 'Unauthorized', message });
}

/** onRequest hook for admin routes. `allowQueryToken` lets EventSource clients (no headers) use ?access_token=. */
export function adminAuth(store: Store, options: { allowQueryToken?: boolean } = {}) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    let token = bearerToken(request);
    if (!token && options.allowQueryToken) {
      const q = (request.query as Record<string, unknown> | undefined)?.['access_token'];
      if (typeof q === 'string') token = q;
    }
    if (!token) return unauthorized(reply, 'missing bearer token: send "Authorization: Bearer <admin token>" (printed at first start; see `netimage login`)');
    if (!(await store.hasAdminTokenHash(sha256Hex(token)))) return unauthorized(reply, 'invalid admin token');
    return undefined;
  };
}
