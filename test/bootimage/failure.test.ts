// bootimage/agent/failure.ts: how a product's failure becomes the job's result (pure).
import test from 'ava';
import { productFailure } from '../../bootimage/agent/failure.ts';
import { NetimageError } from '../../lib/errors.ts';
import { ProductError } from '../../lib/netboot-product.ts';
import { CommandError } from '../../lib/process.ts';
import { ImagingError } from '../../imaging/errors.ts';
import { PlanError } from '../../imaging/planner.ts';

test('a NetimageError of any kind: failed, its message is the error text, no stack in the log', (t) => {
  for (const error of [new ProductError('imagefile is empty'), new ImagingError('no backup partition'), new PlanError('disk too small'), new CommandError('sfdisk', 1, 'boom\n'), new NetimageError('unavailable', 'server gone')]) {
    const f = productFailure('opsi-local-image-restore', error);
    t.deepEqual(f.result, { result: 'failed', error: error.message });
    t.deepEqual(f.log, [`opsi-local-image-restore failed: ${error.message}`], error.name);
  }
});

test('anything else is a bug: the same result, and its stack in the log', (t) => {
  const error = new TypeError("Cannot read properties of undefined (reading 'x')");
  const f = productFailure('hwinvent', error);
  t.deepEqual(f.result, { result: 'failed', error: error.message });
  t.is(f.log.length, 2);
  t.is(f.log[1], error.stack);
});

test('a thrown non-error and an overlong message', (t) => {
  t.deepEqual(productFailure('hwinvent', 'plain').result, { result: 'failed', error: 'plain' });
  const long = productFailure('hwinvent', new ProductError('x'.repeat(5000)));
  t.is(long.result.error!.length, 4000, 'the protocol limit of agentResult.error');
});
