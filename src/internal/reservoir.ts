/**
 * A fixed-size uniform sample of the values seen (Vitter's algorithm R with a seeded generator, so runs are
 * repeatable): exact percentiles while at most `capacity` values were seen, unbiased estimates after, in constant
 * memory. The one reservoir behind the latency percentiles of pipelines and runners.
 *
 * @internal
 */

/** How many values a reservoir keeps unless told otherwise. */
export const defaultCapacity = 1024

export class Reservoir {
  readonly values: Array<number> = []
  /** How many values were offered (kept or not). */
  seen = 0
  private seed: number

  constructor(readonly capacity: number = defaultCapacity, seed = 0x9e3779b9) {
    this.seed = seed
  }

  add(value: number): void {
    this.seen++
    if (this.values.length < this.capacity) {
      this.values.push(value)
      return
    }
    const j = Math.floor(this.random() * this.seen)
    if (j < this.capacity) this.values[j] = value
  }

  /** The kept values in ascending order (a copy). */
  sorted(): Array<number> {
    return [...this.values].sort((a, b) => a - b)
  }

  /** mulberry32: a small, well-mixed 32-bit generator. */
  private random(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) | 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The nearest-rank quantile `q` (0 to 1) of ascending values, `undefined` when there are none. */
export const quantile = (sorted: ReadonlyArray<number>, q: number): number | undefined =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
