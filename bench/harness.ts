/**
 * The benchmark harness: every `bench/*.bench.ts` file default-exports a `Suite`; `bench/index.ts` runs them
 * all (or those named on the command line) and prints each variant's figures next to its floor, measured in
 * the same process, alternating rounds.
 */
export interface Variant {
  readonly name: string
  /** Runs the workload once; `bench/index.ts` times it. */
  readonly run: () => Promise<unknown> | unknown
  /** The variant this one is compared with (its floor); omitted for the floor itself. */
  readonly baseline?: string | undefined
}

export interface Suite {
  readonly name: string
  readonly description: string
  /** Units processed by one run (items, tokens, bytes): per-unit costs are reported when set. */
  readonly units?: { readonly count: number; readonly label: string } | undefined
  readonly variants: ReadonlyArray<Variant>
  readonly rounds?: number | undefined
  /** Extra lines (e.g. a computed target check) printed after the table, given the medians in ms by variant. */
  readonly summary?: ((medians: ReadonlyMap<string, number>) => ReadonlyArray<string>) | undefined
  /** Releases what the suite set up outside the process (e.g. a database), whether its runs succeeded or not. */
  readonly cleanup?: (() => Promise<void>) | undefined
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fmt = (n: number, digits = 1) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

export const runSuite = async (suite: Suite): Promise<void> => {
  try {
    await measure(suite)
  } finally {
    await suite.cleanup?.()
  }
}

const measure = async (suite: Suite): Promise<void> => {
  const rounds = suite.rounds ?? 3
  const times = new Map<string, Array<number>>(suite.variants.map((v) => [v.name, []]))
  for (const variant of suite.variants) await variant.run() // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? suite.variants : [...suite.variants].reverse()
    for (const variant of order) {
      const start = performance.now()
      await variant.run()
      times.get(variant.name)!.push(performance.now() - start)
    }
  }
  const medians = new Map([...times].map(([name, ts]) => [name, median(ts)]))
  console.log(`\n## ${suite.name}\n${suite.description}`)
  const unit = suite.units
  console.log(
    `| variant | median ms | ${unit ? `ns/${unit.label} | ${unit.label}/s | ` : ""}ratio | vs | runs (ms) |\n` +
      `|---|---:|${unit ? "---:|---:|" : ""}---:|---|---|`
  )
  for (const variant of suite.variants) {
    const ms = medians.get(variant.name)!
    const base = variant.baseline ? medians.get(variant.baseline) : undefined
    const perUnit = unit ? `${fmt((ms * 1e6) / unit.count, 0)} | ${fmt((unit.count / ms) * 1000, 0)} | ` : ""
    console.log(
      `| ${variant.name} | ${fmt(ms)} | ${perUnit}${base === undefined ? "1.00" : fmt(ms / base, 2)}× | ${
        variant.baseline ?? "(floor)"
      } | ${times.get(variant.name)!.map((t) => fmt(t, 0)).join(", ")} |`
    )
  }
  for (const line of suite.summary?.(medians) ?? []) console.log(line)
}
