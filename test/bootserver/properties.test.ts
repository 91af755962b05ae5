// bootserver/products/properties.ts: validation and merge of property values (pure).
import test from 'ava';
import { asList, effectivePropertyValues, PropertyValidationError, validatePropertyValues } from '../../bootserver/products/properties.ts';
import type { ProductDefinition, PropertyDefinition } from '../../bootserver/store/types.ts';

const prop = (name: string, over: Partial<PropertyDefinition> = {}): PropertyDefinition => ({
  name,
  type: 'unicode',
  description: '',
  default: '',
  choices: [],
  editable: true,
  multiValue: false,
  readOnly: false,
  ...over,
});
const product: ProductDefinition = {
  id: 'p',
  version: '1',
  name: 'p',
  description: '',
  priority: 0,
  destructive: false,
  properties: [
    prop('text', { default: 'x' }),
    prop('flag', { type: 'bool', default: false }),
    prop('list', { multiValue: true, default: ['a'] }),
    prop('mode', { editable: false, choices: ['0', '1'], default: '0' }),
    prop('free', { readOnly: true }),
  ],
};
const admin = { allowReadOnly: false };

test('values are normalised: booleans from text, lists from comma text, a one-element list to its value', (t) => {
  t.deepEqual(validatePropertyValues(product, { flag: 'true', list: 'b, c', text: ['y'], mode: '1' }, admin), { flag: true, list: ['b', 'c'], text: 'y', mode: '1' });
  t.deepEqual(validatePropertyValues(product, { list: '' }, admin), { list: [] });
});

test('bad values are refused with the property named', (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ nope: 'x' }, /p has no property nope; its properties are: text, flag, list, mode, free/],
    [{ flag: 'yes' }, /p\.flag is a boolean/],
    [{ text: true }, /p\.text is text, not a boolean/],
    [{ text: ['a', 'b'] }, /p\.text takes one value, got a list of 2/],
    [{ mode: '7' }, /p\.mode must be one of: "0", "1"/],
    [{ text: 'a\nreboot' }, /p\.text contains control characters/],
    [{ text: 'x'.repeat(4097) }, /p\.text is too long/],
    [{ free: '1G' }, /p\.free is read-only/],
  ];
  for (const [values, message] of bad) {
    t.throws(() => validatePropertyValues(product, values as never, admin), { instanceOf: PropertyValidationError, message }, JSON.stringify(values).slice(0, 40));
  }
});

test('the agent may set read-only properties', (t) => {
  t.deepEqual(validatePropertyValues(product, { free: '1G' }, { allowReadOnly: true }), { free: '1G' });
});

test('effective values: product defaults overlaid with the client values; unknown stored names drop out', (t) => {
  t.deepEqual(effectivePropertyValues(product, { text: 'mine', old: 'gone' }), { text: 'mine', flag: false, list: ['a'], mode: '0', free: '' });
});

test('asList gives the string list opsi uses', (t) => {
  t.deepEqual(asList(undefined), []);
  t.deepEqual(asList(true), []);
  t.deepEqual(asList(''), []);
  t.deepEqual(asList('a'), ['a']);
  t.deepEqual(asList(['a', 'b']), ['a', 'b']);
});

test('prepare values the PC would only refuse after booting are refused when set: a 0 system partition, a delay that is no number of seconds', (t) => {
  const prepare: ProductDefinition = {
    ...product,
    id: 'opsi-local-image-prepare',
    properties: [prop('system_partition_size', { default: '30G', choices: ['30G'] }), prop('data_partition_size', { default: '0G' }), prop('delay_for_reboot', { default: '1', choices: ['1', '5'] })],
  };
  for (const [values, message] of [
    [{ system_partition_size: '0G' }, /system_partition_size: the system partition cannot be 0/],
    [{ system_partition_size: '0%' }, /system_partition_size: the system partition cannot be 0/],
    [{ delay_for_reboot: 'abc' }, /delay_for_reboot: "abc" is not a number of seconds from 0 to 600/],
    [{ delay_for_reboot: '-5' }, /delay_for_reboot: "-5" is not a number of seconds/],
    [{ delay_for_reboot: '1.5' }, /delay_for_reboot: "1.5" is not a number of seconds/],
    [{ delay_for_reboot: '3600' }, /delay_for_reboot: "3600" is not a number of seconds from 0 to 600/],
  ] as const) {
    t.throws(() => validatePropertyValues(prepare, values, admin), { instanceOf: PropertyValidationError, message }, JSON.stringify(values));
  }
  t.deepEqual(validatePropertyValues(prepare, { system_partition_size: '45G', data_partition_size: '0G', delay_for_reboot: '0' }, admin), { system_partition_size: '45G', data_partition_size: '0G', delay_for_reboot: '0' });
  t.deepEqual(validatePropertyValues(prepare, { delay_for_reboot: '600' }, admin), { delay_for_reboot: '600' });
});

test('image names the PC would refuse after booting (path tricks, odd characters) are refused when set; empty means none, delimage keeps all_images', (t) => {
  const restore: ProductDefinition = {
    ...product,
    id: 'opsi-local-image-restore',
    properties: [prop('imagefile'), prop('imagefiles_list', { multiValue: true, default: [] }), prop('server_image')],
  };
  const delimage: ProductDefinition = { ...product, id: 'opsi-local-image-delimage', properties: [prop('imagefile', { choices: ['all_images'] })] };
  for (const [values, message] of [
    [{ imagefile: '../../etc' }, 'opsi-local-image-restore.imagefile: image name "../../etc" contains characters that are not allowed: "/" (use letters, digits, \'.\', \'_\', \'-\'; spaces become \'_\')'],
    [{ imagefile: '.hidden' }, 'opsi-local-image-restore.imagefile: image name ".hidden" must not start with \'.\' or \'-\''],
    [{ imagefile: 'a'.repeat(129) }, `opsi-local-image-restore.imagefile: image name "${'a'.repeat(129)}" is longer than 128 characters`],
    [{ imagefile: 'all_images' }, 'opsi-local-image-restore.imagefile: "all_images" is reserved (it means every image for delimage)'],
    [{ imagefiles_list: 'win11,../x' }, /^opsi-local-image-restore\.imagefiles_list: image name "\.\.\/x" contains characters/],
    [{ server_image: '../../etc' }, 'opsi-local-image-restore.server_image: "../../etc" is not a golden image name (letters, digits, ".", "_", "-")'],
  ] as const) {
    t.throws(() => validatePropertyValues(restore, values, admin), { instanceOf: PropertyValidationError, message }, JSON.stringify(values));
  }
  t.deepEqual(validatePropertyValues(restore, { imagefile: 'Win 11', imagefiles_list: 'win11,win10', server_image: '' }, admin), { imagefile: 'Win 11', imagefiles_list: ['win11', 'win10'], server_image: '' });
  t.deepEqual(validatePropertyValues(restore, { imagefile: '' }, admin), { imagefile: '' });
  t.deepEqual(validatePropertyValues(delimage, { imagefile: 'all_images' }, admin), { imagefile: 'all_images' });
});
