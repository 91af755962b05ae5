// The OS install's pure parts: settings texts, the askbeforeinst countdown, delay_for_reboot.
import test from 'ava';
import { aptProxyText, aptSourcesText, checkPasswordHash, checkTimezone, firstBootConfigText, fstabText, keyboardFor, localeFor, localeGenText } from '../../imaging/linux-install/settings.ts';
import { confirmOnConsole, parseAnswer, type ConsoleIo } from '../../imaging/linux-install/confirm.ts';
import { rebootDelaySeconds } from '../../bootimage/agent/reboot-delay.ts';

test('fstab: root, ESP and swap by UUID; no ESP line on BIOS', (t) => {
  const uefi = fstabText({ root: 'r-1', esp: 'AB-CD', swap: 's-1' });
  t.regex(uefi, /^UUID=r-1 \/ ext4 errors=remount-ro 0 1$/m);
  t.regex(uefi, /^UUID=AB-CD \/boot\/efi vfat umask=0077 0 1$/m);
  t.regex(uefi, /^UUID=s-1 none swap sw 0 0$/m);
  t.notRegex(fstabText({ root: 'r', esp: null, swap: null }), /efi|swap/);
});

test('language, keymap, time zone, apt: opsi values mapped, bad ones refused', (t) => {
  t.is(localeFor('de'), 'de_DE.UTF-8');
  t.is(localeFor('en'), 'en_US.UTF-8');
  t.is(localeFor('de_AT'), 'de_AT.UTF-8');
  t.throws(() => localeFor('de; rm -rf /'), { message: /not a language code/ });
  t.is(localeGenText('# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n', 'de_DE.UTF-8'), 'de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n');
  t.deepEqual(keyboardFor('de-latin1-nodeadkeys'), { layout: 'de', variant: 'nodeadkeys' });
  t.deepEqual(keyboardFor('us'), { layout: 'us', variant: '' });
  t.throws(() => keyboardFor('de"\nX=1'), { message: /not a keymap name/ });
  t.is(checkTimezone('America/Argentina/Buenos_Aires'), 'America/Argentina/Buenos_Aires');
  t.throws(() => checkTimezone('../../etc/shadow'));
  t.throws(() => aptProxyText('http://x" ; evil'), { message: /not an http/ });
  t.throws(() => aptSourcesText(['deb http://a b c\ndeb http://evil x y']));
  t.throws(() => checkPasswordHash('linux123', 'root_password'), { message: /not a yescrypt/ });
  t.throws(() => firstBootConfigText('https://server/agent/v1/first-boot', 'a'.repeat(64)), { message: /not http/ });
});

function fakeConsole(typed: string | null, afterMs = 50): ConsoleIo & { screen: string; closed: boolean } {
  const io = {
    screen: '',
    closed: false,
    write: (s: string) => void (io.screen += s),
    async *lines() {
      if (typed === null) return await new Promise<never>(() => undefined);
      await new Promise((r) => setTimeout(r, afterMs));
      yield typed;
    },
    close: () => void (io.closed = true),
  };
  return io;
}

test('askbeforeinst: Enter goes on at once, "no" aborts, silence counts down to zero', async (t) => {
  const enter = fakeConsole('');
  t.is(await confirmOnConsole(enter, ['disk /dev/sda: system ERASED'], 30), 'go');
  t.regex(enter.screen, /disk \/dev\/sda: system ERASED/);
  t.regex(enter.screen, /Installing in +30 s/);
  t.true(enter.closed);
  t.is(await confirmOnConsole(fakeConsole('no'), [], 30), 'abort');
  const quiet = fakeConsole(null);
  t.is(await confirmOnConsole(quiet, [], 2), 'timeout');
  t.regex(quiet.screen, /Installing in +2 s.*\rInstalling in +1 s/s, 'a visible countdown');
  t.is(parseAnswer(' N '), 'abort');
  t.is(parseAnswer('yes'), 'go');
});

test('delay_for_reboot: seconds from the property, capped; absent, empty or nonsense = none', (t) => {
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: '5' } }), 5);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: ['30'] } }), 30);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: '99999' } }), 600);
  t.is(rebootDelaySeconds({ properties: {} }), 0);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: 'soon' } }), 0);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: true } }), 0);
});
