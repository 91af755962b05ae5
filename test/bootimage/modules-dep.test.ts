import test from 'ava';
import { closeModules, parseBuiltin, parseModulesDep, parseSoftdeps } from '../../bootimage/builder/modules-dep.ts';
import { parseNeeded } from '../../bootimage/builder/elf-needed.ts';

const dep = parseModulesDep(`kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/usb/core/usbcore.ko kernel/drivers/usb/common/usb-common.ko
kernel/drivers/usb/core/usbcore.ko: kernel/drivers/usb/common/usb-common.ko
kernel/drivers/usb/common/usb-common.ko:
kernel/crypto/crc32c_generic.ko:
`);

test('closes wanted modules over modules.dep; dashes equal underscores', (t) => {
  const c = closeModules(['ext4', 'usb_storage'], dep, new Set());
  t.deepEqual(c.paths, [
    'kernel/drivers/usb/common/usb-common.ko',
    'kernel/drivers/usb/core/usbcore.ko',
    'kernel/drivers/usb/storage/usb-storage.ko',
    'kernel/fs/ext4/ext4.ko',
    'kernel/fs/jbd2/jbd2.ko',
    'kernel/fs/mbcache.ko',
    'kernel/lib/crc16.ko',
  ]);
  t.deepEqual(c.missing, []);
});

test('built-ins need nothing, unknown names are reported, softdeps come along', (t) => {
  const builtin = parseBuiltin('kernel/drivers/block/loop.ko\n');
  const soft = parseSoftdeps('softdep ext4 pre: crc32c_generic\n');
  const c = closeModules(['loop', 'ext4', 'nosuch'], dep, builtin, soft);
  t.true(c.paths.includes('kernel/crypto/crc32c_generic.ko'));
  t.deepEqual(c.missing, ['nosuch']);
});

test('readelf NEEDED parsing', (t) => {
  const out = ` 0x0000000000000001 (NEEDED)             Shared library: [libstdc++.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000000e (SONAME)             Library soname: [libwim.so.15]`;
  t.deepEqual(parseNeeded(out), ['libstdc++.so.6', 'libc.so.6']);
});
