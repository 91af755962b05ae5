// The UTF-8 locales opsi's short `language` codes stand for (de → de_DE.UTF-8). The server
// compiles exactly these into every root filesystem it builds, so a PC whose language is one of
// them skips locale-gen: compiling one locale costs tens of seconds on a slow or emulated CPU
// (docs/performance.md). A locale outside this list is still compiled on the PC.
export const LANGUAGE_LOCALES: Readonly<Record<string, string>> = {
  en: 'en_US.UTF-8',
  de: 'de_DE.UTF-8',
  fr: 'fr_FR.UTF-8',
  es: 'es_ES.UTF-8',
  it: 'it_IT.UTF-8',
  nl: 'nl_NL.UTF-8',
  da: 'da_DK.UTF-8',
  sv: 'sv_SE.UTF-8',
  cs: 'cs_CZ.UTF-8',
  pl: 'pl_PL.UTF-8',
};

/** The name `localedef --list-archive` prints for a locale: de_DE.UTF-8 → de_DE.utf8. */
export function archiveLocaleName(locale: string): string {
  const [base, codeset] = locale.split('.');
  return codeset ? `${base}.${codeset.toLowerCase().replace(/[^a-z0-9]/g, '')}` : base!;
}

/** Whether `localedef --list-archive` output holds the locale. */
export function archiveHasLocale(listArchiveOutput: string, locale: string): boolean {
  const want = archiveLocaleName(locale);
  return listArchiveOutput.split('\n').some((l) => l.trim() === want);
}
