// fetch-based client for the agent API (lib/agent-protocol.ts). Every call retries with backoff;
// the final result is persisted first and resent until the server acknowledges it.
import {
  AGENT_API_PREFIX,
  agentJob,
  agentProductStates,
  OsInstallPlanSchema,
  WindowsInstallPlanSchema,
  type ActionRequest,
  type AgentInventory,
  type AgentJob,
  type AgentProgress,
  type BackupImageReport,
  type AgentResult,
  type OsInstallPlan,
  type ProductOnClientStateWire,
  type PropertyValue,
  type WindowsInstallPlan,
} from '../../lib/agent-protocol.ts';
import type { AgentServerApi } from '../../lib/netboot-product.ts';
import type { ResultOutbox } from './result-outbox.ts';
import { DEFAULT_POLICY, withRetry, type RetryPolicy } from './retry.ts';

export class HttpError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, body: string) {
    super(`${method} ${path}: HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ''}`);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** Client errors won't change on retry; 408/425/429 and 5xx might. */
export function isFatalHttp(error: unknown): boolean {
  return error instanceof HttpError && error.status >= 400 && error.status < 500 && ![408, 425, 429].includes(error.status);
}

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
  log: (line: string) => void;
  /** For ordinary calls. */
  policy?: RetryPolicy;
  /** For the final result: by default never gives up on network errors. */
  resultPolicy?: RetryPolicy;
  requestTimeoutMs?: number;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

export class AgentApiClient implements AgentServerApi {
  readonly #o: Required<Omit<ApiClientOptions, 'signal'>> & { signal: AbortSignal | undefined };

  constructor(options: ApiClientOptions) {
    this.#o = {
      policy: DEFAULT_POLICY,
      resultPolicy: { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.5, maxAttempts: Number.POSITIVE_INFINITY },
      requestTimeoutMs: 15_000,
      fetchImpl: globalThis.fetch,
      signal: undefined,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
    };
  }

  async #request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
    const url = `${this.#o.baseUrl}${AGENT_API_PREFIX}${path}`;
    const timeout = AbortSignal.timeout(this.#o.requestTimeoutMs);
    const signal = this.#o.signal ? AbortSignal.any([timeout, this.#o.signal]) : timeout;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#o.token}` };
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await this.#o.fetchImpl(url, { method, headers, body: payload, signal });
    const text = await res.text();
    if (!res.ok) throw new HttpError(method, path, res.status, text);
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  #call(method: string, path: string, body?: unknown, contentType?: string, policy = this.#o.policy): Promise<unknown> {
    return withRetry(() => this.#request(method, path, body, contentType), policy, {
      signal: this.#o.signal,
      isFatal: isFatalHttp,
      onRetry: (error, attempt, delay) =>
        this.#o.log(`${method} ${path} failed (${describe(error)}); retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
    });
  }

  async getJob(): Promise<AgentJob> {
    return agentJob.parse(await this.#call('GET', '/job'));
  }

  /** One attempt, no retry: the reporter keeps unsent lines and tries again on its next tick. */
  async sendProgressOnce(progress: AgentProgress): Promise<void> {
    await this.#request('POST', '/job/progress', progress);
  }

  /**
   * Persist, then send until acknowledged. Network errors and 5xx retry forever (with backoff);
   * a 4xx means the server will never take it, and is thrown (the result stays persisted).
   */
  async postResult(jobId: string, result: AgentResult, outbox: ResultOutbox): Promise<void> {
    const previous = outbox.load();
    let attempts = previous?.jobId === jobId ? previous.attempts : 0;
    outbox.save({ jobId, result, acknowledged: false, attempts });
    await withRetry(
      async () => {
        attempts++;
        try {
          await this.#request('POST', '/job/result', result);
        } catch (error) {
          outbox.save({ jobId, result, acknowledged: false, attempts, lastError: describe(error) });
          throw error;
        }
      },
      this.#o.resultPolicy,
      {
        signal: this.#o.signal,
        isFatal: isFatalHttp,
        onRetry: (error, attempt, delay) =>
          this.#o.log(`result not delivered (${describe(error)}); kept in ${outbox.paths[0]}, resend ${attempt} in ${(delay / 1000).toFixed(1)} s`),
      },
    );
    outbox.save({ jobId, result, acknowledged: true, attempts });
  }

  /** One GET of a server file outside the agent API (the depot) with the job token; no retry, no timeout on the body (callers resume). */
  async fetchFile(path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const signals = [signal, this.#o.signal].filter((s): s is AbortSignal => s !== undefined);
    return this.#o.fetchImpl(`${this.#o.baseUrl}${path}`, {
      headers: { ...headers, authorization: `Bearer ${this.#o.token}` },
      ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
    });
  }

  async agentRequest(method: string, path: string, init: { headers?: Record<string, string>; body?: string | ReadableStream<Uint8Array>; signal?: AbortSignal } = {}): Promise<Response> {
    const signals = [init.signal, this.#o.signal].filter((s): s is AbortSignal => s !== undefined);
    return this.#o.fetchImpl(`${this.#o.baseUrl}${AGENT_API_PREFIX}${path}`, {
      method,
      headers: { ...init.headers, authorization: `Bearer ${this.#o.token}` },
      ...(init.body === undefined ? {} : { body: init.body, duplex: 'half' }),
      ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
    } as RequestInit);
  }

  async uploadLog(text: string): Promise<void> {
    await this.#call('POST', '/job/log', text, 'text/plain; charset=utf-8');
  }

  async setProperties(productId: string, values: Record<string, PropertyValue>, images?: BackupImageReport[]): Promise<void> {
    await this.#call('POST', '/client/properties', images ? { productId, values, images } : { productId, values });
  }

  async setActionRequests(requests: { productId: string; actionRequest: ActionRequest }[]): Promise<void> {
    await this.#call('POST', '/client/action-requests', { requests });
  }

  async getProductStates(): Promise<ProductOnClientStateWire[]> {
    return agentProductStates.parse(await this.#call('GET', '/client/product-states')).states;
  }

  async putProductStates(states: ProductOnClientStateWire[]): Promise<void> {
    await this.#call('PUT', '/client/product-states', { states });
  }

  async putInventory(inventory: AgentInventory): Promise<void> {
    await this.#call('PUT', '/client/inventory', inventory);
  }

  /** Each call mints a fresh first-boot token (the previous one stops working). */
  async getOsInstallPlan(): Promise<OsInstallPlan> {
    return OsInstallPlanSchema.parse(await this.#call('GET', '/os-install'));
  }

  /** Each call mints a fresh completion token (the previous one stops working). */
  async getWindowsInstallPlan(): Promise<WindowsInstallPlan> {
    return WindowsInstallPlanSchema.parse(await this.#call('GET', '/windows-install'));
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const c = cause instanceof Error ? ` (${(cause as { code?: string }).code ?? cause.message})` : '';
    return `${error.message}${c}`;
  }
  return String(error);
}
