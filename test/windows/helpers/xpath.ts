// Reading the rendered answer file in tests: text at an XPath, by xmllint (a real XML parser).
import { execa } from '../../../lib/process.ts';

/** Text at an XPath (namespace-free by local-name) of the answer file, by xmllint. */
export async function xpath(xml: string, path: string): Promise<string> {
  const expr = path
    .split('/')
    .map((s) => (s === '' ? '' : s.replace(/^([A-Za-z-]+)(\[.*\])?$/, (_m, n: string, pred = '') => `*[local-name()='${n}']${pred}`)))
    .join('/');
  return (await execa('xmllint', ['--xpath', `string(${expr})`, '-'], { input: xml })).stdout;
}
