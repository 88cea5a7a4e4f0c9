/**
 * A latency histogram of bounded size: 10 µs buckets below 100 ms, 1 ms buckets up to 120 s.
 * Percentiles are the upper edge of the bucket they fall in (never optimistic).
 */
const FINE = 10_000; // 10 µs buckets for 0..100 ms
const COARSE = 120_000; // 1 ms buckets for 100 ms..120 s

export class LatencyHistogram {
  private readonly counts = new Uint32Array(FINE + COARSE + 1);
  count = 0;
  max = 0;

  record(ms: number): void {
    const v = Math.max(0, ms);
    const index = v < 100 ? Math.floor(v * 100) : Math.min(FINE + Math.floor(v - 100), FINE + COARSE);
    this.counts[index]!++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  /** The p-th percentile in ms (0 when nothing was recorded), rounded to 0.01 ms. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const upper = i < FINE ? (i + 1) / 100 : 100 + (i - FINE + 1);
        return Math.round(Math.min(upper, this.max) * 100) / 100;
      }
    }
    return Math.round(this.max * 100) / 100;
  }
}

/** Percentile of a list of numbers (nearest rank); NaN when empty. */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
