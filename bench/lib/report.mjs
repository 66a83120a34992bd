// Medians over rounds, and Markdown tables the docs can take as they are.
export const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const fmt = {
  rps: (v) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '–'),
  // autocannon records whole milliseconds: 0 means under one.
  ms: (v) => (!Number.isFinite(v) ? '–' : v < 1 ? '< 1 ms' : `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ms`),
  ratio: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–'),
  cpu: (v) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '–'),
  kib: (bytes) => `${(bytes / 1024).toFixed(1)} KiB`,
};

export function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i ? '---:' : '---')).join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** Summarises the rounds of one (instance, scenario): medians of rps, p50, p99; errors summed. */
export function summarise(samples) {
  return {
    rps: median(samples.map((s) => s.rps)),
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    cpu: median(samples.map((s) => s.cpu)),
    non2xx: samples.reduce((n, s) => n + s.non2xx, 0),
    errors: samples.reduce((n, s) => n + s.errors, 0),
  };
}

/** The median over rounds of the per-round ratio (paired: both sides measured minutes apart at most). */
export const pairedRatio = (a, b) => median(a.map((s, i) => s.rps / b[i]?.rps));
