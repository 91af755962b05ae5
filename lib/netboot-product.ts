// The shape every netboot product has inside the agent (hwinvent, opsi-local-image-*).
// A product gets a context with its job, a way to report, and narrow server calls; it returns
// normally on success and throws (a NetimageError, e.g. ProductError, when the message is for the admin) on failure. The agent posts the result.
// It lives in lib/ so that imaging/ (which implements products) and bootimage/ (whose agent runs
// them) both depend downwards on it; ids and destructive flags are in lib/products.ts.
import type {
  AgentInventory,
  AgentJob,
  BackupImageReport,
  ActionRequest,
  OsInstallPlan,
  ProductOnClientStateWire,
  PropertyValue,
  WindowsInstallPlan,
} from './agent-protocol.ts';
import { NetimageError } from './errors.ts';
import type { Firmware } from './firmware.ts';
import type { ProductId } from './products.ts';

/** Server calls a product may make; all scoped to the job's own client by the token. */
export interface AgentServerApi {
  /** GET a server-relative file (a depot entry the job is granted) with the job token; one attempt, the raw response. */
  fetchFile(path: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
  /**
   * One request to the agent API (path below /agent/v1) with the job token; one attempt, no
   * timeout on the body, the raw response: for callers that stream and resume themselves (uploads).
   */
  agentRequest(method: string, path: string, init?: { headers?: Record<string, string>; body?: string | ReadableStream<Uint8Array>; signal?: AbortSignal }): Promise<Response>;
  /** `images`: the details of the images a restore `imagefiles_list` in `values` names (agentPropertyUpdate). */
  setProperties(productId: string, values: Record<string, PropertyValue>, images?: BackupImageReport[]): Promise<void>;
  setActionRequests(requests: { productId: string; actionRequest: ActionRequest }[]): Promise<void>;
  getProductStates(): Promise<ProductOnClientStateWire[]>;
  putProductStates(states: ProductOnClientStateWire[]): Promise<void>;
  putInventory(inventory: AgentInventory): Promise<void>;
  /** The install plan of an OS install job (GET /agent/v1/os-install); refused for any other job. */
  getOsInstallPlan(): Promise<OsInstallPlan>;
  /** The staging plan of an unattended Windows job (GET /agent/v1/windows-install); refused for any other job. */
  getWindowsInstallPlan(): Promise<WindowsInstallPlan>;
}

export interface ProductContext {
  job: AgentJob;
  /** Firmware the client booted with (from /sys/firmware/efi). */
  firmware: Firmware;
  /** MAC the client PXE-booted from, if known. */
  bootMac: string | null;
  /** One line for the job log (sent to the server and shown on the console). */
  log(line: string): void;
  /** Overall progress of the product, 0-100, with a short message. */
  progress(percent: number, message?: string): void;
  server: AgentServerApi;
  /** Aborted when the agent is asked to stop; long steps should pass it to child processes. */
  signal: AbortSignal;
  /**
   * Optional: also keep the job's final result at this path (e.g. a file on the disk's backup
   * partition), so it survives a reboot before the server acknowledged it. The agent writes it.
   */
  keepResultAt?(path: string): void;
}

export interface NetbootProduct {
  /** opsi product id, e.g. opsi-local-image-backup; whether it is destructive is in lib/products.ts. */
  readonly id: ProductId;
  run(ctx: ProductContext): Promise<void>;
}

/** A failure with a message meant for the admin (shown as actionProgress / job error). */
export class ProductError extends NetimageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('failed', message, options);
    this.name = 'ProductError';
  }
}
