// unattend.xml rendering: each property lands in the component and pass Microsoft documents for
// it (amd64), values are XML-escaped, missing or invalid values are refused, and every result is
// parsed by a real XML parser (xmllint) before anything is looked up in it.
import test from 'ava';
import { run, runAllowFailure } from '../../lib/process.ts';
import { encodeAdministratorPassword, renderUnattend, unattendInputFromProperties, xmlEscape, type UnattendInput } from '../../imaging/wim/unattend.ts';
import type { DiskLayout } from '../../imaging/store/metadata.ts';

const layout = (firmware: 'uefi' | 'bios'): DiskLayout => ({
  format: 'netimage-layout/1',
  createdAt: '2026-12-01T00:00:00.000Z',
  firmware,
  osFamily: 'windows',
  systemDisk: { serial: 'S1', wwn: null, location: 'pci-0000:00:1f.2-ata-1', sizeBytes: 256e9, logicalSectorSize: 512 },
  backupOnSameDisk: true,
  partitions:
    firmware === 'uefi'
      ? [
          { disk: 'system', number: 1, role: 'esp', fs: 'vfat', sizeBytes: 1 },
          { disk: 'system', number: 2, role: 'msr', fs: 'none', sizeBytes: 1 },
          { disk: 'system', number: 3, role: 'system', fs: 'ntfs', sizeBytes: 1 },
          { disk: 'system', number: 4, role: 'backup', fs: 'ext4', sizeBytes: 1 },
        ]
      : [
          { disk: 'system', number: 1, role: 'system', fs: 'ntfs', sizeBytes: 1 },
          { disk: 'system', number: 2, role: 'backup', fs: 'ext4', sizeBytes: 1 },
        ],
});

const base: UnattendInput = {
  productId: 'opsi-local-image-win11-x64',
  imageName: 'Windows 11 Pro',
  productKey: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T',
  uiLanguage: 'de-DE',
  inputLocale: '0407:00000407',
  systemLocale: 'de-DE',
  userLocale: 'de-CH',
  timeZone: 'W. Europe Standard Time',
  computerName: 'PC-R101-07',
  adminPassword: 'Geh3im!',
  organization: 'Schule am See',
  fullName: 'Raum 101',
  layout: layout('uefi'),
};

/** Parse with xmllint (fails the test on malformed XML), then evaluate string(xpath). */
async function xpath(xml: string, expr: string): Promise<string> {
  const r = await run('xmllint', ['--nonet', '--xpath', `string(${expr})`, '-'], { input: xml });
  return r.stdout;
}

const el = (name: string) => `*[local-name()='${name}']`;
/** Path to an element inside <settings pass=…><component name=…> (the amd64 component). */
const at = (pass: string, component: string, ...path: string[]) =>
  `/${el('unattend')}/${el('settings')}[@pass='${pass}']/${el('component')}[@name='${component}'][@processorArchitecture='amd64'][@publicKeyToken='31bf3856ad364e35']/${path.map(el).join('/')}`;

test('well-formed for UEFI and BIOS layouts, with and without optional parts', async (t) => {
  for (const input of [base, { ...base, layout: layout('bios'), productKey: '', organization: '' }, { ...base, domain: { name: 'ad.schule.de', user: 'join', password: 'x' } }]) {
    const xml = renderUnattend(input);
    const lint = await runAllowFailure('xmllint', ['--nonet', '--noout', '-'], { input: xml });
    t.is(lint.exitCode, 0, lint.stderr);
    t.is(await xpath(xml, `namespace-uri(/*)`), 'urn:schemas-microsoft-com:unattend');
  }
});

test('imagename -> Microsoft-Windows-Setup (windowsPE) InstallFrom /IMAGE/NAME', async (t) => {
  const xml = renderUnattend(base);
  const md = at('windowsPE', 'Microsoft-Windows-Setup', 'ImageInstall', 'OSImage', 'InstallFrom', 'MetaData');
  t.is(await xpath(xml, `${md}/${el('Key')}`), '/IMAGE/NAME');
  t.is(await xpath(xml, `${md}/${el('Value')}`), 'Windows 11 Pro');
  t.is(await xpath(xml, `${md}/@*[local-name()='action']`), 'add');
});

test('product key -> Microsoft-Windows-Setup UserData/ProductKey/Key; empty key: no ProductKey element', async (t) => {
  t.is(await xpath(renderUnattend(base), at('windowsPE', 'Microsoft-Windows-Setup', 'UserData', 'ProductKey', 'Key')), 'VK7JG-NPHTM-C97JM-9MPGT-3V66T');
  t.is(await xpath(renderUnattend({ ...base, productKey: '' }), `count(${at('windowsPE', 'Microsoft-Windows-Setup', 'UserData', 'ProductKey')})`), '0');
  t.throws(() => renderUnattend({ ...base, productKey: 'ABCDE-12345' }), { message: /productKey must be five groups/ });
});

test('locale, input and UI language -> International-Core-WinPE (windowsPE) and International-Core (oobeSystem)', async (t) => {
  const xml = renderUnattend(base);
  t.is(await xpath(xml, at('windowsPE', 'Microsoft-Windows-International-Core-WinPE', 'SetupUILanguage', 'UILanguage')), 'de-DE');
  for (const [pass, comp] of [
    ['windowsPE', 'Microsoft-Windows-International-Core-WinPE'],
    ['oobeSystem', 'Microsoft-Windows-International-Core'],
  ] as const) {
    t.is(await xpath(xml, at(pass, comp, 'InputLocale')), '0407:00000407', pass);
    t.is(await xpath(xml, at(pass, comp, 'SystemLocale')), 'de-DE', pass);
    t.is(await xpath(xml, at(pass, comp, 'UILanguage')), 'de-DE', pass);
    t.is(await xpath(xml, at(pass, comp, 'UserLocale')), 'de-CH', pass);
  }
  t.throws(() => renderUnattend({ ...base, uiLanguage: 'German' }), { message: /uiLanguage must be a language tag/ });
});

test('time zone -> Shell-Setup TimeZone (specialize and oobeSystem); IANA names refused', async (t) => {
  const xml = renderUnattend(base);
  t.is(await xpath(xml, at('specialize', 'Microsoft-Windows-Shell-Setup', 'TimeZone')), 'W. Europe Standard Time');
  t.is(await xpath(xml, at('oobeSystem', 'Microsoft-Windows-Shell-Setup', 'TimeZone')), 'W. Europe Standard Time');
  t.throws(() => renderUnattend({ ...base, timeZone: 'Europe/Berlin' }), { message: /timeZone must be a Windows time zone id/ });
});

test('computer name = client hostname -> Shell-Setup ComputerName (specialize); NetBIOS rules', async (t) => {
  const input = unattendInputFromProperties({ productId: base.productId, properties: { imagename: 'Windows 11 Pro', administrator_password: 'pw', language: 'de-DE' }, hostname: 'pc-r101-07.schule.local', layout: layout('uefi') });
  t.is(await xpath(renderUnattend(input), at('specialize', 'Microsoft-Windows-Shell-Setup', 'ComputerName')), 'pc-r101-07');
  t.throws(() => renderUnattend({ ...base, computerName: 'a-very-long-pc-name' }), { message: /computerName must be 1-15/ });
  t.throws(() => renderUnattend({ ...base, computerName: '12345' }), { message: /computerName must not be only digits/ });
});

test('admin password -> Shell-Setup (oobeSystem) UserAccounts/AdministratorPassword, encoded, PlainText false', async (t) => {
  const xml = renderUnattend(base);
  const pw = at('oobeSystem', 'Microsoft-Windows-Shell-Setup', 'UserAccounts', 'AdministratorPassword');
  t.is(await xpath(xml, `${pw}/${el('PlainText')}`), 'false');
  const value = await xpath(xml, `${pw}/${el('Value')}`);
  t.is(value, encodeAdministratorPassword('Geh3im!'));
  t.is(Buffer.from(value, 'base64').toString('utf16le'), 'Geh3im!AdministratorPassword');
  t.false(xml.includes('Geh3im!'), 'the password is not in clear text');
});

test('organisation and owner -> Setup UserData (windowsPE) and Shell-Setup RegisteredOrganization', async (t) => {
  const xml = renderUnattend(base);
  t.is(await xpath(xml, at('windowsPE', 'Microsoft-Windows-Setup', 'UserData', 'Organization')), 'Schule am See');
  t.is(await xpath(xml, at('windowsPE', 'Microsoft-Windows-Setup', 'UserData', 'FullName')), 'Raum 101');
  t.is(await xpath(xml, at('specialize', 'Microsoft-Windows-Shell-Setup', 'RegisteredOrganization')), 'Schule am See');
  t.is(await xpath(xml, at('oobeSystem', 'Microsoft-Windows-Shell-Setup', 'RegisteredOrganization')), 'Schule am See');
});

test('domain join -> Microsoft-Windows-UnattendedJoin (specialize); without a domain: JoinWorkgroup', async (t) => {
  const id = (...p: string[]) => at('specialize', 'Microsoft-Windows-UnattendedJoin', 'Identification', ...p);
  const joined = renderUnattend({ ...base, domain: { name: 'ad.schule.de', user: 'joiner', password: 'j0in&<pw>', ou: 'OU=Raum101,DC=ad,DC=schule,DC=de' } });
  t.is(await xpath(joined, id('JoinDomain')), 'ad.schule.de');
  t.is(await xpath(joined, id('Credentials', 'Domain')), 'ad.schule.de');
  t.is(await xpath(joined, id('Credentials', 'Username')), 'joiner');
  t.is(await xpath(joined, id('Credentials', 'Password')), 'j0in&<pw>');
  t.is(await xpath(joined, id('MachineObjectOU')), 'OU=Raum101,DC=ad,DC=schule,DC=de');
  t.is(await xpath(joined, `count(${id('JoinWorkgroup')})`), '0');
  const wg = renderUnattend({ ...base, workgroup: 'RAUM101' });
  t.is(await xpath(wg, id('JoinWorkgroup')), 'RAUM101');
  t.is(await xpath(wg, `count(${id('JoinDomain')})`), '0');
  t.throws(() => renderUnattend({ ...base, domain: { name: 'ad.schule.de', user: '', password: 'x' } }), { message: /domain\.user is required for a domain join/ });
});

test('target disk/partition from layout.json -> Microsoft-Windows-Setup InstallTo (GPT: 3, MBR: 1)', async (t) => {
  const to = (...p: string[]) => at('windowsPE', 'Microsoft-Windows-Setup', 'ImageInstall', 'OSImage', 'InstallTo', ...p);
  t.is(await xpath(renderUnattend(base), to('PartitionID')), '3');
  t.is(await xpath(renderUnattend(base), to('DiskID')), '0');
  t.is(await xpath(renderUnattend({ ...base, layout: layout('bios'), diskId: 1 }), to('PartitionID')), '1');
  t.is(await xpath(renderUnattend({ ...base, layout: layout('bios'), diskId: 1 }), to('DiskID')), '1');
  t.throws(() => renderUnattend({ ...base, layout: { ...layout('uefi'), osFamily: 'linux' } }), { message: /prepared for Linux/ });
  t.throws(() => renderUnattend({ ...base, layout: { format: 'x' } as never }), { message: /layout\.format/ });
});

test('XML escaping: markup in values stays text', async (t) => {
  const nasty = `A&B <Schule> "am" 'See' ]]>`;
  const xml = renderUnattend({ ...base, organization: nasty, imageName: 'Win <11> & "Pro"' });
  t.is(await xpath(xml, at('windowsPE', 'Microsoft-Windows-Setup', 'UserData', 'Organization')), nasty);
  t.is(await xpath(xml, at('windowsPE', 'Microsoft-Windows-Setup', 'ImageInstall', 'OSImage', 'InstallFrom', 'MetaData', 'Value')), 'Win <11> & "Pro"');
  t.is(xmlEscape(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
  t.throws(() => renderUnattend({ ...base, organization: 'line\nbreak' }), { message: /organization must not contain control characters/ });
});

test('missing required values: one error naming each, values never echoed', (t) => {
  const e = t.throws(() => renderUnattend(unattendInputFromProperties({ productId: base.productId, properties: {}, hostname: 'pc1', layout: layout('uefi') })));
  t.regex(e.message, /imageName is required/);
  t.regex(e.message, /adminPassword is required/);
  const e2 = t.throws(() => renderUnattend({ ...base, adminPassword: 'Geh3im!', computerName: 'bad name' }));
  t.notRegex(e2.message, /Geh3im/);
});
