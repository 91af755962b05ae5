// zod schemas of the session, user and audit routes.
import { z } from 'zod';
import { groupId } from '../schemas.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../auth/passwords.ts';
import { ROLES } from '../../auth/policy.ts';

export const userName = z
  .string()
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'a user name of lower-case letters, digits, dot, underscore or hyphen (e.g. jdoe)');
const password = z.string().min(PASSWORD_MIN_LENGTH, `a password of at least ${PASSWORD_MIN_LENGTH} characters`).max(PASSWORD_MAX_LENGTH);
const role = z.enum(ROLES);

export const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(PASSWORD_MAX_LENGTH) }).strict();

export const createUserBody = z
  .object({
    name: userName,
    role,
    groups: z.array(groupId).max(1000).default([]),
    /** null or left out: the user signs in with API tokens only. */
    password: password.nullable().default(null),
  })
  .strict();

export const updateUserBody = z.object({ role: role.optional(), groups: z.array(groupId).max(1000).optional(), password: password.nullable().optional() }).strict();

export const userParams = z.object({ name: userName });
export const tokenName = z.string().max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a token name of letters, digits, dot, underscore or hyphen (e.g. laptop)');
export const createTokenBody = z.object({ name: tokenName }).strict();
export const userTokenParams = z.object({ name: userName, tokenName });

export const auditQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(10000).default(100),
    actor: z.string().max(64).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
