// Users, their passwords and API tokens: what the admin API (/api/v1/users) and the CLI
// (`netimage user ...`) adapt to. Passwords are stored as scrypt hashes (passwords.ts), tokens
// as sha256 (random 192-bit tokens need no slow hash).
import { randomBytes } from 'node:crypto';
import type { Role, Store, User, UserToken } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import { NetimageError } from '../../lib/errors.ts';
import { sha256Hex } from '../service/tokens.ts';
import { DEFAULT_SCRYPT, dummyHash, hashPassword, verifyPassword, type ScryptParams } from './passwords.ts';
import { ADMIN_TOKEN_ACTOR } from './policy.ts';

/** A user as the API shows it: never the hash. */
export interface UserView {
  name: string;
  role: Role;
  groups: string[];
  hasPassword: boolean;
  created: string;
  modified: string;
}

export type UserTokenView = Omit<UserToken, 'hash'>;

export function userView(u: User): UserView {
  return { name: u.name, role: u.role, groups: u.role === 'admin' ? [] : u.groups, hasPassword: u.passwordHash !== null, created: u.created, modified: u.modified };
}

class UserInputError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'UserInputError';
  }
}

export class UserService {
  readonly #store: Store;
  readonly #kdf: ScryptParams;

  /** kdf: the cost of new password hashes (stored ones keep theirs). */
  constructor(store: Store, kdf: ScryptParams = DEFAULT_SCRYPT) {
    this.#store = store;
    this.#kdf = kdf;
  }

  async #checkGroups(groups: readonly string[]): Promise<void> {
    for (const g of groups) if (!(await this.#store.getGroup(g))) throw new UserInputError(`group ${g} does not exist (netimage group add ${g} first)`);
  }

  /** Rooms given to an admin were kept silently and shown nowhere: say that they mean nothing. */
  #checkAdminGroups(role: Role, groups: readonly string[] | undefined): void {
    if (role === 'admin' && groups && groups.length > 0) throw new UserInputError('groups are for operators: an admin sees every room; nothing changed');
  }

  async add(input: { name: string; role: Role; groups: string[]; password: string | null }): Promise<UserView> {
    if (input.name === ADMIN_TOKEN_ACTOR) throw new UserInputError(`${ADMIN_TOKEN_ACTOR} names the first-start admin token in the audit log: choose another name`);
    this.#checkAdminGroups(input.role, input.groups);
    await this.#checkGroups(input.groups);
    const ts = new Date().toISOString();
    const passwordHash = input.password === null ? null : await hashPassword(input.password, this.#kdf);
    return userView(await this.#store.createUser({ name: input.name, role: input.role, groups: [...new Set(input.groups)], passwordHash, created: ts, modified: ts }));
  }

  async list(): Promise<UserView[]> {
    return (await this.#store.listUsers()).map(userView);
  }

  async get(name: string): Promise<UserView> {
    return userView(await this.#require(name));
  }

  /** A new password ends the user's sessions (a stolen session must not outlive the change). */
  async update(name: string, patch: { role?: Role | undefined; groups?: string[] | undefined; password?: string | null | undefined }): Promise<UserView> {
    const old = await this.#require(name);
    this.#checkAdminGroups(patch.role ?? old.role, patch.groups);
    if (patch.groups) await this.#checkGroups(patch.groups);
    // Made admin: the operator's rooms go (an admin has every room, and they must not come back
    // unasked if the user is made operator again later).
    const groups = patch.role === 'admin' ? [] : patch.groups ? [...new Set(patch.groups)] : undefined;
    const passwordHash = patch.password === undefined ? undefined : patch.password === null ? null : await hashPassword(patch.password, this.#kdf);
    const user = await this.#store.updateUser(name, {
      ...(patch.role ? { role: patch.role } : {}),
      ...(groups ? { groups } : {}),
      ...(passwordHash !== undefined ? { passwordHash } : {}),
    });
    if (passwordHash !== undefined) await this.#store.deleteUserSessions(name);
    return userView(user);
  }

  remove(name: string): Promise<void> {
    return this.#store.deleteUser(name);
  }

  /** The token is shown once, here; the store keeps its sha256. */
  async createToken(userName: string, tokenName: string): Promise<UserTokenView & { token: string }> {
    await this.#require(userName);
    const token = 'nu_' + randomBytes(24).toString('base64url');
    const record: UserToken = { hash: sha256Hex(token), userName, name: tokenName, created: new Date().toISOString(), lastUsed: null };
    await this.#store.addUserToken(record);
    const { hash: _omit, ...view } = record;
    return { ...view, token };
  }

  async listTokens(userName: string): Promise<UserTokenView[]> {
    await this.#require(userName);
    return (await this.#store.listUserTokens(userName)).map(({ hash: _omit, ...view }) => view);
  }

  removeToken(userName: string, tokenName: string): Promise<void> {
    return this.#store.deleteUserToken(userName, tokenName);
  }

  /** The user if the password matches; an unknown name costs the same KDF run as a wrong password. */
  async checkPassword(name: string, password: string): Promise<User | null> {
    const user = await this.#store.getUser(name);
    const ok = await verifyPassword(password, user?.passwordHash ?? dummyHash(this.#kdf));
    return ok && user?.passwordHash ? user : null;
  }

  async #require(name: string): Promise<User> {
    const user = await this.#store.getUser(name);
    if (!user) throw new StoreNotFoundError(`user ${name} not found`);
    return user;
  }
}
