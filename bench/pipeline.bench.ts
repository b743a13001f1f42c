/**
 * The Pipeline builder and its concurrency core against the floors, measured in the same process, alternating rounds
 * (see ../shared/notes/perf-baselines.md for the method and the earlier figures).
 *
 * 1. Latency-bound: 2,000 items × a 20 ms step at concurrency 16, 64 and 256. The floor is a hand-written promise
 *    pool (c workers, each `await new Promise((r) => setTimeout(r, 20))`); target: the pipeline's throughput is at
 *    least 95% of the pool's. Also printed: raw `Stream.mapEffect` and `Effect.forEach` with the same concurrency, and
 *    the Effect floor: `concurrency` fibers looping over `Effect.sleep` with no stream and no hand-off at all (the
 *    cost of one fiber suspension and `Effect.sleep` per item, which any design that runs the step as an Effect pays;
 *    each variant's share of it is printed too). Nine rounds at concurrency 256, where one run takes about 0.2 s.
 * 2. Trivial steps: a 3-stage map → filter → map over 1e5 and 1e6 numbers, each map's function returning an effect
 *    (`Effect.succeed`), against a hand-written async-generator chain whose maps await an async function. Targets:
 *    ≤ 1.5× the chain at concurrency 1, ≤ 3× the (windowed, concurrency 16) chain at concurrency 16. Raw
 *    `Stream.mapEffect` is printed for comparison at 1e5 (at 1e6 with concurrency 16 it would take minutes).
 * 3. Memory: 1e6 items through map → batch(50) → unbatch, each run in a fresh child process
 *    (`pipeline-memory.ts`); target: peak RSS at 1e6 within 10% of peak RSS at 1e5.
 */
import { Effect, Stream } from "effect"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Concurrency from "../src/Concurrency.js"
import * as Pipeline from "../src/Pipeline.js"
import { median, type Suite } from "./harness.js"

const fmt = (n: number, digits = 1) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

// =============================================================================
// 1. latency-bound
// =============================================================================

const ITEMS = 2_000
const LATENCY = 20

const promisePool = async (concurrency: number): Promise<number> => {
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < ITEMS) {
      next++
      await new Promise<void>((resolve) => setTimeout(resolve, LATENCY))
      done++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return done
}

const sleepStep = () => Effect.sleep(LATENCY)
const ids = Array.from({ length: ITEMS }, (_, i) => i)

const latencySuite = (concurrency: number): Suite => {
  const ordered = Pipeline.start<number>({ name: `latency-${concurrency}` }).map("sleep", sleepStep, { concurrency })
  const unordered = Pipeline.start<number>({ name: `latency-${concurrency}-u` }).map("sleep", sleepStep, {
    concurrency,
    ordered: false
  })
  const pool = "promise pool (floor)"
  const ideal = (ITEMS * LATENCY) / concurrency
  return {
    name: `Latency-bound: ${fmt(ITEMS, 0)} × ${LATENCY} ms at concurrency ${concurrency}`,
    description: `ideal ${fmt(ideal)} ms (items × latency / concurrency); ratio < 1 means slower than the pool`,
    units: { count: ITEMS, label: "item" },
    rounds: concurrency === 16 ? 3 : concurrency === 64 ? 5 : 9,
    variants: [
      { name: pool, run: () => promisePool(concurrency) },
      {
        name: "Pipeline.map (ordered)",
        baseline: pool,
        run: () => Effect.runPromise(Stream.runCount(ordered.execute(ids)))
      },
      {
        name: "Pipeline.map (unordered)",
        baseline: pool,
        run: () => Effect.runPromise(Stream.runCount(unordered.execute(ids)))
      },
      {
        name: "Concurrency.mapEffect (ordered)",
        baseline: pool,
        run: () =>
          Effect.runPromise(
            Stream.runCount(Stream.fromIterable(ids).pipe(Concurrency.mapEffect(sleepStep, { concurrency })))
          )
      },
      {
        name: "Effect floor: c fibers looping Effect.sleep",
        baseline: pool,
        run: () =>
          Effect.runPromise(Effect.suspend(() => {
            let next = 0
            const worker = Effect.whileLoop({
              while: () => next < ITEMS,
              body: () => Effect.zipRight(Effect.sync(() => next++), sleepStep()),
              step: () => {}
            })
            return Effect.all(Array.from({ length: concurrency }, () => worker), {
              concurrency: "unbounded",
              discard: true
            })
          }))
      },
      {
        name: "raw Stream.mapEffect (ordered)",
        baseline: pool,
        run: () =>
          Effect.runPromise(
            Stream.runCount(Stream.fromIterable(ids).pipe(Stream.mapEffect(sleepStep, { concurrency })))
          )
      },
      {
        name: "raw Effect.forEach",
        baseline: pool,
        run: () => Effect.runPromise(Effect.forEach(ids, sleepStep, { concurrency, discard: true }))
      }
    ],
    summary: (medians) => {
      const floor = medians.get(pool)!
      const effectFloor = medians.get("Effect floor: c fibers looping Effect.sleep")!
      const lines = [""]
      for (
        const name of [
          "Pipeline.map (ordered)",
          "Pipeline.map (unordered)",
          "Concurrency.mapEffect (ordered)",
          "Effect floor: c fibers looping Effect.sleep"
        ]
      ) {
        const share = floor / medians.get(name)!
        const ofEffect = name.startsWith("Effect floor")
          ? ""
          : `, ${fmt((effectFloor / medians.get(name)!) * 100)}% of the Effect floor's`
        lines.push(
          `${name}: ${fmt(share * 100)}% of the promise pool's throughput${ofEffect}, ${
            fmt((ideal / medians.get(name)!) * 100)
          }% of ideal (target ≥ 95% of the pool): ${share >= 0.95 ? "OK" : "MISSED"}`
        )
      }
      lines.push(`promise pool: ${fmt((ideal / floor) * 100)}% of ideal`)
      return lines
    }
  }
}

// =============================================================================
// 2. trivial steps
// =============================================================================

const double = async (x: number) => x * 2
const increment = async (x: number) => x + 1
const keep = (x: number) => x % 3 !== 0

async function* numbers(n: number) {
  for (let i = 0; i < n; i++) yield i
}
async function* mapGen<A, B>(source: AsyncIterable<A>, f: (a: A) => Promise<B>) {
  for await (const a of source) yield await f(a)
}
async function* filterGen<A>(source: AsyncIterable<A>, p: (a: A) => boolean) {
  for await (const a of source) if (p(a)) yield a
}
/** An ordered window of `c` promises in flight: the async-generator way to run a map with concurrency. */
async function* mapWindowGen<A, B>(source: AsyncIterable<A>, f: (a: A) => Promise<B>, c: number) {
  const window: Array<Promise<B>> = []
  for await (const a of source) {
    window.push(f(a))
    if (window.length >= c) yield await window.shift()!
  }
  while (window.length > 0) yield await window.shift()!
}
const drain = async (source: AsyncIterable<unknown>) => {
  let count = 0
  for await (const _ of source) count++
  return count
}

const trivialSuite = (items: number): Suite => {
  const chain = "async-gen chain c=1 (floor)"
  const window = "async-gen window c=16"
  const pipeline = (concurrency: number) =>
    Pipeline.start<number>({ name: `trivial-${concurrency}` })
      .map("double", (x) => Effect.succeed(x * 2), { concurrency })
      .filter("keep", keep)
      .map("increment", (x) => Effect.succeed(x + 1), { concurrency })
  const p1 = pipeline(1)
  const p16 = pipeline(16)
  const source = () => Stream.range(0, items - 1)
  const raw = (concurrency: number) => () =>
    Effect.runPromise(Stream.runCount(
      source().pipe(
        Stream.mapEffect((x) => Effect.succeed(x * 2), { concurrency }),
        Stream.filter(keep),
        Stream.mapEffect((x) => Effect.succeed(x + 1), { concurrency })
      )
    ))
  return {
    name: `Trivial 3-stage map → filter → map, ${fmt(items, 0)} items`,
    description: "each map's function returns an effect (Effect.succeed) / awaits an async function (async-gen)",
    units: { count: items, label: "item" },
    rounds: 3,
    variants: [
      { name: chain, run: () => drain(mapGen(filterGen(mapGen(numbers(items), double), keep), increment)) },
      {
        name: window,
        baseline: chain,
        run: () => drain(mapWindowGen(filterGen(mapWindowGen(numbers(items), double, 16), keep), increment, 16))
      },
      { name: "Pipeline c=1", baseline: chain, run: () => Effect.runPromise(Stream.runCount(p1.execute(source()))) },
      { name: "Pipeline c=16", baseline: window, run: () => Effect.runPromise(Stream.runCount(p16.execute(source()))) },
      ...(items <= 100_000
        ? [
          { name: "raw Stream.mapEffect c=1", baseline: chain, run: raw(1) },
          { name: "raw Stream.mapEffect c=16", baseline: window, run: raw(16) }
        ]
        : [])
    ],
    summary: (medians) => {
      const a = medians.get(chain)!
      const a16 = medians.get(window)!
      const c1 = medians.get("Pipeline c=1")! / a
      const c16 = medians.get("Pipeline c=16")! / a16
      return [
        "",
        `Pipeline c=1: ${fmt(c1, 2)}× the async-gen chain (target ≤ 1.5×): ${c1 <= 1.5 ? "OK" : "MISSED"}`,
        `Pipeline c=16: ${fmt(c16, 2)}× the async-gen window c=16 (target ≤ 3×): ${c16 <= 3 ? "OK" : "MISSED"}; ${
          fmt(medians.get("Pipeline c=16")! / a, 2)
        }× the c=1 chain`
      ]
    }
  }
}

// =============================================================================
// 3. memory
// =============================================================================

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)

interface ChildResult {
  readonly items: number
  readonly ms: number
  readonly maxRssMb: number
}

const results = new Map<string, Array<ChildResult>>()

/** V8 grows its heap lazily: with the old space capped, peak RSS is the working set. */
const CAPPED = ["--max-old-space-size=100"]

const child = (name: string, items: number, concurrency: number, flags: ReadonlyArray<string> = []) => () => {
  const done = spawnSync(
    process.execPath,
    [...flags, "--import", "tsx", path.join(here, "pipeline-memory.ts"), String(items), String(concurrency)],
    { cwd: root, encoding: "utf8", maxBuffer: 1 << 20 }
  )
  const line = done.stdout.trim().split("\n").pop() ?? ""
  if (done.status !== 0 || !line.startsWith("{")) {
    throw new Error(`child ${name} failed (${done.status}): ${done.stderr.slice(-2000)}`)
  }
  const result = JSON.parse(line) as ChildResult
  results.set(name, [...(results.get(name) ?? []), result])
}

const memorySuite: Suite = {
  name: "Memory: map → batch(50) → unbatch (one child process per run)",
  description: `1e5 and 1e6 items; wall times include process start (tsx); "capped" runs with ${CAPPED.join(" ")}`,
  rounds: 2,
  variants: [
    { name: "c=1, 1e5", run: child("c=1, 1e5", 100_000, 1) },
    { name: "c=1, 1e6", run: child("c=1, 1e6", 1_000_000, 1) },
    { name: "c=16, 1e5", run: child("c=16, 1e5", 100_000, 16) },
    { name: "c=16, 1e6", run: child("c=16, 1e6", 1_000_000, 16) },
    { name: "c=16, 1e5, capped", run: child("c=16, 1e5, capped", 100_000, 16, CAPPED) },
    { name: "c=16, 1e6, capped", run: child("c=16, 1e6, capped", 1_000_000, 16, CAPPED) }
  ],
  summary: () => {
    const lines = ["", "| run | items | pipeline ms | items/s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    const peak = new Map<string, number>()
    for (const [name, all] of results) {
      const ms = median(all.map((r) => r.ms))
      const rss = median(all.map((r) => r.maxRssMb))
      peak.set(name, rss)
      lines.push(
        `| ${name} | ${fmt(all[0]!.items, 0)} | ${fmt(ms, 0)} | ${fmt((all[0]!.items / ms) * 1000, 0)} | ${fmt(rss)} |`
      )
    }
    for (const who of ["c=1", "c=16", "c=16, capped"]) {
      const [small, large] = who.includes("capped")
        ? ["c=16, 1e5, capped", "c=16, 1e6, capped"]
        : [`${who}, 1e5`, `${who}, 1e6`]
      const ratio = peak.get(large)! / peak.get(small)!
      lines.push(
        `${who}: peak RSS at 1e6 = ${fmt(ratio, 3)}× peak RSS at 1e5 (target ≤ 1.10): ${ratio <= 1.1 ? "OK" : "MISSED"}`
      )
    }
    return lines
  }
}

const suites: ReadonlyArray<Suite> = [
  latencySuite(16),
  latencySuite(64),
  latencySuite(256),
  trivialSuite(100_000),
  trivialSuite(1_000_000),
  memorySuite
]

export default suites
