// The inventory `extra` limits (lib/agent-protocol.ts): measured without recursion, so a value
// nested deeper than the call stack is refused instead of crashing the server.
import test from 'ava';
import { agentInventory, INVENTORY_EXTRA_LIMITS, jsonLimitViolation } from '../../lib/agent-protocol.ts';

const limits = { maxDepth: 3, maxNodes: 10, maxStringLength: 5 };

test('depth, count, string and key length are each limited, with the reason', (t) => {
  t.is(jsonLimitViolation({ a: { b: { c: 1 } } }, limits), null);
  t.is(jsonLimitViolation({ a: { b: { c: { d: 1 } } } }, limits), 'nested deeper than 3 levels');
  t.is(jsonLimitViolation([[[[]]]], limits), 'nested deeper than 3 levels');
  t.is(jsonLimitViolation(Array.from({ length: 10 }, () => 1), limits), 'more than 10 values');
  t.is(jsonLimitViolation({ a: '123456' }, limits), 'a string longer than 5 characters');
  t.is(jsonLimitViolation({ abcdef: 1 }, limits), 'a key longer than 5 characters');
});

test('a value nested 100,000 deep is measured without a stack overflow', (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.is(jsonLimitViolation(deep, INVENTORY_EXTRA_LIMITS), `nested deeper than ${INVENTORY_EXTRA_LIMITS.maxDepth} levels`);
});

test("what hwinvent sends passes the schema; too deep an extra fails it", (t) => {
  const inventory = {
    collectedAt: '2026-01-01T00:00:00Z',
    system: { manufacturer: 'QEMU', model: null, serial: null, uuid: null },
    bios: { vendor: null, version: null, firmware: 'uefi' },
    cpu: { model: null, cores: 2 },
    memoryBytes: 1,
    disks: [],
    nics: [],
    extra: { boardVendor: 'QEMU', boardName: null, chassisType: '1', biosDate: null, cpuSpeedGHz: 2.4, cpuPhysicalCores: 2, kernel: '6.8.0' },
  };
  t.true(agentInventory.safeParse(inventory).success);
  const r = agentInventory.safeParse({ ...inventory, extra: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } });
  t.false(r.success);
  t.regex(r.error?.issues[0]?.message ?? '', /extra is too large: nested deeper than 8 levels/);
});
