/**
 * Pipeline laziness (issue 13): `take(3)` over a synchronous generator of 100,000 items, through a `map` step with
 * concurrency 1 and 8 (default `bufferSize` 0), counting the items the generator yields. The documented bound
 * (README, Pipeline): the step holds at most `concurrency + bufferSize` items, and hands on every ready result in one
 * chunk, so `take(n)` after it stops the source after at most `n + 2 × (concurrency + bufferSize)` items. Before
 * issue 13 the generator was read 4,096 items ahead and never closed.
 */
import { Effect } from "effect"
import * as Pipeline from "../src/Pipeline.js"
import type { Suite } from "./harness.js"

const pulled = new Map<number, { pulled: number; closed: boolean }>()

const run = (concurrency: number) => {
  const counts = { pulled: 0, closed: false }
  function* numbers() {
    try {
      for (let i = 0; i < 100_000; i++) {
        counts.pulled++
        yield i
      }
    } finally {
      counts.closed = true
    }
  }
  const p = Pipeline.start<number>({ name: "take" })
    .map("work", (n) => concurrency === 1 ? Effect.succeed(n) : Effect.as(Effect.sleep(1), n), { concurrency })
    .take("first", 3)
  return Effect.runPromise(p.executeToArray(numbers())).then((out) => {
    if (out.length !== 3) throw new Error(`expected 3 items, got ${out.length}`)
    pulled.set(concurrency, counts)
  })
}

const suite: Suite = {
  name: "Pipeline: take(3) over a synchronous generator of 100,000 items",
  description: "map (concurrency 1: Effect.succeed; concurrency 8: a 1 ms sleep) then take(3); items pulled from " +
    "the generator are counted",
  rounds: 5,
  variants: [
    { name: "concurrency 1", run: () => run(1) },
    { name: "concurrency 8", run: () => run(8), baseline: "concurrency 1" }
  ],
  summary: () =>
    [1, 8].map((c) => {
      const { closed, pulled: n } = pulled.get(c)!
      const bound = 3 + 2 * (c + 0)
      return `concurrency ${c}: ${n} items pulled (target ≤ 3 + 2 × (${c} + bufferSize 0) = ${bound}: ${
        n <= bound ? "met" : "MISSED"
      }), generator closed: ${closed}`
    })
}

export default suite
