// The one place the agent turns a product's failure into the job's result. Every kind of
// NetimageError (lib/errors.ts) is a failed job whose error text is the message, worded for the
// admin already; anything else is a bug or a library's surprise: the same result, and its stack
// in the job log for whoever debugs it.
import type { AgentResult } from '../../lib/agent-protocol.ts';
import { NetimageError } from '../../lib/errors.ts';

/** agentResult.error holds at most this many characters. */
const ERROR_TEXT_MAX = 4000;

export interface ProductFailure {
  result: AgentResult;
  /** Lines for the job log. */
  log: string[];
}

export function productFailure(productId: string, error: unknown): ProductFailure {
  const message = error instanceof Error ? error.message : String(error);
  const log = [`${productId} failed: ${message}`];
  if (error instanceof Error && !(error instanceof NetimageError) && error.stack) log.push(error.stack);
  return { result: { result: 'failed', error: message.slice(0, ERROR_TEXT_MAX) }, log };
}
