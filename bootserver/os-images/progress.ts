// mmdebstrap's output as progress: its "I: <stage>" lines move the percentage through fixed
// bands, and inside the long stages apt/dpkg lines ("Get:N", "Unpacking", "Setting up") are
// counted against the package total apt announces ("N newly installed"). Pure.

/** Stage line prefix -> the percentage reached when it starts. Ordered as mmdebstrap runs them. */
const STAGES: [RegExp, number][] = [
  [/^I: running apt-get update/, 2],
  [/^I: downloading packages/, 5],
  [/^I: extracting archives/, 30],
  [/^I: installing essential packages/, 35],
  [/^I: installing remaining packages/, 50],
  [/^I: running --customize-hook|^I: running special hook/, 90],
  [/^I: cleaning package lists|^I: cleaning up/, 92],
  [/^I: creating tarball/, 93],
  [/^I: done/, 99],
];

export interface ProgressState {
  percent: number;
  /** Packages apt said it would install in the current stage, and how many lines of work seen. */
  total: number;
  seen: number;
  band: [number, number];
}

export function initialProgress(): ProgressState {
  return { percent: 0, total: 0, seen: 0, band: [0, 2] };
}

function nextBandEnd(start: number): number {
  return STAGES.map(([, p]) => p).find((p) => p > start) ?? 100;
}

/** Feed one output line; returns the new state (percent never goes down). */
export function progressAfter(state: ProgressState, line: string): ProgressState {
  for (const [re, start] of STAGES) {
    if (re.test(line)) return { percent: Math.max(state.percent, start), total: 0, seen: 0, band: [start, nextBandEnd(start)] };
  }
  const announced = /(\d+) newly installed/.exec(line);
  if (announced) return { ...state, total: Number(announced[1]) };
  if (state.total > 0 && /^(Get:\d+|Unpacking |Setting up )/.test(line)) {
    const seen = state.seen + 1;
    // Unpacking + Setting up: two lines per package; downloads: one.
    const perPackage = /^Get:/.test(line) ? 1 : 2;
    const fraction = Math.min(1, seen / (state.total * perPackage));
    const [from, to] = state.band;
    return { ...state, seen, percent: Math.max(state.percent, Math.floor(from + (to - from) * fraction)) };
  }
  return state;
}
