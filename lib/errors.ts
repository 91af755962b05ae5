// The one base class of netimage's own errors. A NetimageError's message is worded for the admin
// (it reaches API answers, the CLI and a job's error text as it is); its kind says what went wrong
// in terms every edge understands, so each edge maps kinds in one place instead of listing
// classes: HTTP status in bootserver/http/errors.ts, a product failure's job result in
// bootimage/agent/failure.ts. Anything that is not a NetimageError is a bug and is reported as one.

export const ERROR_KINDS = ['invalid', 'not_found', 'conflict', 'forbidden', 'unauthorized', 'rate_limited', 'unavailable', 'failed'] as const;
/**
 * invalid: the input is wrong (fix the request or the setting); not_found: what was named does not
 * exist; conflict: the current state does not allow it; forbidden: the caller is known but may not
 * do this; unauthorized: the caller is not known; rate_limited: too many attempts of this caller
 * (failed logins), try again later; unavailable: something needed cannot be reached
 * now (retry later); failed: an operation went wrong (a command, the disk, a damaged file).
 */
export type ErrorKind = (typeof ERROR_KINDS)[number];

export class NetimageError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    // Subclasses set their own name as a literal: the agent bundle is minified, class names are not kept.
    this.name = 'NetimageError';
  }
}
