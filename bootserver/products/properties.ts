// Property values: validation against a product's definitions and the merge of product
// defaults with per-client values (opsi's productPropertyState semantics). Pure.
import type { PropertyValue } from '../../lib/agent-protocol.ts';
// The agent's own cap (one number for both sides; a type-free module, so nothing of the agent loads here).
import { MAX_REBOOT_DELAY_SECONDS } from '../../lib/products.ts';
import type { ProductDefinition, PropertyDefinition } from '../store/types.ts';
import { NetimageError } from '../../lib/errors.ts';
import { parseSize } from '../../lib/sizes.ts';
import { imageNameProblem } from '../../lib/image-names.ts';
import { goldenEntryName } from '../../lib/golden.ts';

export class PropertyValidationError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PropertyValidationError';
  }
}

export interface ValidateOptions {
  /** The agent may set read-only properties (free_on_backup); admins may not. */
  allowReadOnly: boolean;
}

function checkOne(product: ProductDefinition, def: PropertyDefinition, value: PropertyValue): PropertyValue {
  const where = `${product.id}.${def.name}`;
  if (def.type === 'bool') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw new PropertyValidationError(`${where} is a boolean: use true or false`);
  }
  if (typeof value === 'boolean') throw new PropertyValidationError(`${where} is text, not a boolean`);
  if (def.multiValue) {
    const list = Array.isArray(value) ? value : value === '' ? [] : value.split(',').map((s) => s.trim());
    for (const item of list) checkText(where, def, item);
    return list;
  }
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new PropertyValidationError(`${where} takes one value, got a list of ${value.length}`);
    return checkText(where, def, value[0]!);
  }
  return checkText(where, def, value);
}

function checkText(where: string, def: PropertyDefinition, value: string): string {
  if (value.length > 4096) throw new PropertyValidationError(`${where} is too long (max 4096 characters)`);
  // Control characters have no place in a property and could smuggle lines into configs.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new PropertyValidationError(`${where} contains control characters`);
  if (!def.editable && !def.choices.includes(value)) {
    throw new PropertyValidationError(`${where} must be one of: ${def.choices.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  // Sizes are checked here too: otherwise a typo is accepted and the PC wipes nothing but fails
  // its job only after booting, long after the admin looked.
  if (/_partition_size$/.test(def.name)) {
    let spec;
    try {
      spec = parseSize(value, where);
    } catch (e) {
      throw new PropertyValidationError((e as Error).message);
    }
    if (def.name === 'minimal_backup_partition_size' && spec.kind !== 'percent') {
      throw new PropertyValidationError(`${where}: "${value}" must be a percentage of the disk, like 55%`);
    }
    // The planner refuses an empty system partition too, but only on the PC after its boot.
    if (def.name === 'system_partition_size' && (spec.kind === 'bytes' ? spec.bytes : spec.percent) === 0) {
      throw new PropertyValidationError(`${where}: the system partition cannot be 0 (use e.g. 30G or 40%)`);
    }
  }
  // An image name becomes a directory on the PC's backup partition: the agent refuses path tricks
  // and odd characters, but only after the PC booted. Empty means none; a choice (delimage's
  // all_images) is the product's own word.
  if ((def.name === 'imagefile' || def.name === 'imagefiles_list') && value.trim() !== '' && !def.choices.includes(value)) {
    const problem = imageNameProblem(value);
    if (problem) throw new PropertyValidationError(`${where}: ${problem}`);
  }
  if (def.name === 'server_image' && value.trim() !== '' && !goldenEntryName(value)) {
    throw new PropertyValidationError(`${where}: "${value}" is not a golden image name (letters, digits, ".", "_", "-")`);
  }
  // The agent reads anything else as 0 s, silently: refuse it where the admin can see why.
  if (def.name === 'delay_for_reboot' && (!/^\d+$/.test(value.trim()) || Number(value) > MAX_REBOOT_DELAY_SECONDS)) {
    throw new PropertyValidationError(`${where}: "${value}" is not a number of seconds from 0 to ${MAX_REBOOT_DELAY_SECONDS}`);
  }
  return value;
}

/** Validate a set of values for a product; returns them normalised (booleans, lists). */
export function validatePropertyValues(
  product: ProductDefinition,
  values: Record<string, PropertyValue>,
  options: ValidateOptions,
): Record<string, PropertyValue> {
  const out: Record<string, PropertyValue> = {};
  for (const [name, value] of Object.entries(values)) {
    const def = product.properties.find((p) => p.name === name);
    if (!def) {
      const known = product.properties.map((p) => p.name).join(', ') || '(none)';
      throw new PropertyValidationError(`${product.id} has no property ${name}; its properties are: ${known}`);
    }
    if (def.readOnly && !options.allowReadOnly) throw new PropertyValidationError(`${product.id}.${name} is read-only (reported by the client)`);
    out[name] = checkOne(product, def, value);
  }
  return out;
}

/** Product defaults overlaid with the client's own values. */
export function effectivePropertyValues(product: ProductDefinition, clientValues: Record<string, PropertyValue>): Record<string, PropertyValue> {
  const out: Record<string, PropertyValue> = {};
  for (const def of product.properties) {
    out[def.name] = clientValues[def.name] ?? def.default;
  }
  return out;
}

/** Normalise a value to the string list opsi uses for multi-value properties. */
export function asList(value: PropertyValue | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return Array.isArray(value) ? value : value === '' ? [] : [value];
}
