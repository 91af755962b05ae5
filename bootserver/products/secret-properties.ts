// Secret product properties: the one list of them and what the server does with each. Two kinds:
// - hashed (the Linux installs' root_password, user_password): only a yescrypt hash is stored and
//   sent (os-images/install-products.ts hashes on the way in; the installer needs no clear text).
// - encrypted (the Windows installs' administrator_password, domain_password): the answer file
//   needs the clear text, so they are stored sealed with AES-256-GCM under a server key
//   (`<dataDir>/secret-properties.key`, 0600, made on first use) and opened only when the job's
//   staging plan is built (service/os-install.ts windowsPlan).
// Neither kind ever leaves the server as stored: admin API, CLI and UI views and the agent's job
// description show MASKED ("set") for a value that is set. MASKED sent back (a form round trip)
// keeps the stored value.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { NetimageError } from '../../lib/errors.ts';
import type { PropertyValue } from '../../lib/agent-protocol.ts';

export const SECRET_PROPERTIES = {
  root_password: 'hashed',
  user_password: 'hashed',
  administrator_password: 'encrypted',
  domain_password: 'encrypted',
} as const satisfies Record<string, 'hashed' | 'encrypted'>;
export type SecretProperty = keyof typeof SECRET_PROPERTIES;

/** What a view shows for a secret that is set. */
export const MASKED = '********';
export const SECRET_KEY_FILE = 'secret-properties.key';
/** Sealed value: prefix, then base64 of iv (12) | tag (16) | ciphertext. */
const SEALED_PREFIX = 'netimage-sealed:v1:';

export const isSecretProperty = (name: string): name is SecretProperty => Object.hasOwn(SECRET_PROPERTIES, name);
export const isSealed = (value: PropertyValue | undefined): boolean => typeof value === 'string' && value.startsWith(SEALED_PREFIX);

/** Values as a view may show them: every secret that is set becomes MASKED. Pure. */
export function maskSecrets(values: Record<string, PropertyValue>): Record<string, PropertyValue> {
  const out = { ...values };
  for (const name of Object.keys(out)) if (isSecretProperty(name) && out[name] !== '' && out[name] !== undefined) out[name] = MASKED;
  return out;
}

/** Values the admin sent without the secrets they left as MASKED (the stored value stays). Pure. */
export function dropMaskedSecrets(values: Record<string, PropertyValue>): Record<string, PropertyValue> {
  return Object.fromEntries(Object.entries(values).filter(([name, v]) => !(isSecretProperty(name) && v === MASKED)));
}

/** conflict: the admin must fix the key file (the message says how), and sees why in the answer. */
export class SecretKeyError extends NetimageError {
  constructor(message: string, options?: ErrorOptions) {
    super('conflict', message, options);
    this.name = 'SecretKeyError';
  }
}

/**
 * Seals and opens the encrypted secret properties with the server key. The key file is read (or
 * made, 0600, O_EXCL) on first use; one readable by group or others is refused, not used.
 */
export class PropertySecrets {
  readonly keyFile: string;
  #key: Promise<Buffer> | undefined;

  constructor(keyFile: string) {
    this.keyFile = keyFile;
  }

  private key(): Promise<Buffer> {
    this.#key ??= this.loadKey().catch((error: unknown) => {
      this.#key = undefined; // fixed by the admin: the next use reads it again
      throw error;
    });
    return this.#key;
  }

  private async loadKey(): Promise<Buffer> {
    try {
      const handle = await open(this.keyFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        await handle.writeFile(`${randomBytes(32).toString('hex')}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new SecretKeyError(`cannot create the secret property key ${this.keyFile}: ${(error as Error).message}`, { cause: error });
    }
    const st = await stat(this.keyFile);
    if (!st.isFile()) throw new SecretKeyError(`the secret property key ${this.keyFile} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new SecretKeyError(
        `the secret property key ${this.keyFile} has mode ${(st.mode & 0o777).toString(8)}: it must be readable by the server's user only (chmod 600 ${this.keyFile}; if others may have read it, set the Windows passwords again after replacing it). Not used.`,
      );
    }
    const key = Buffer.from((await readFile(this.keyFile, 'utf8')).trim(), 'hex');
    if (key.length !== 32) throw new SecretKeyError(`the secret property key ${this.keyFile} is not 64 hex digits (32 bytes); was it edited? (the stored Windows passwords need it)`);
    return key;
  }

  /** The encrypted secrets of `values` sealed (values already sealed, empty ones and others kept). */
  async seal(values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    const out = { ...values };
    for (const [name, value] of Object.entries(out)) {
      if (!isSecretProperty(name) || SECRET_PROPERTIES[name] !== 'encrypted' || typeof value !== 'string' || value === '' || isSealed(value)) continue;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', await this.key(), iv);
      cipher.setAAD(Buffer.from(name)); // a sealed value is good for its own property only
      const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      out[name] = SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
    }
    return out;
  }

  /** The sealed values of `values` opened (for the job's plan only). */
  async open(values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    const out = { ...values };
    for (const [name, value] of Object.entries(out)) {
      if (!isSealed(value)) continue;
      const raw = Buffer.from((value as string).slice(SEALED_PREFIX.length), 'base64');
      try {
        const decipher = createDecipheriv('aes-256-gcm', await this.key(), raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(name));
        decipher.setAuthTag(raw.subarray(12, 28));
        out[name] = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      } catch (error) {
        if (error instanceof SecretKeyError) throw error;
        throw new SecretKeyError(`the stored ${name} cannot be opened with ${this.keyFile} (another key, or a changed value): set it again`, { cause: error });
      }
    }
    return out;
  }
}
