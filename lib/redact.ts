// Secrets out of messages and logs: a proxy or mirror URL may carry a password
// (http://user:password@proxy:3128), and such URLs end up in error answers and job logs.

/** `text` with the password of every URL in it replaced by "***" (the user name stays, to say which account). Pure. */
export function hideUrlPasswords(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, '$1:***@');
}
