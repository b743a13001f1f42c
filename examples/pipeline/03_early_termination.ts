/**
 * Early termination (the design's example 3): a vector search yields up to 1,000 hits lazily (a generator), `take`
 * keeps the top 10, a reranker (a structured model call on the offline dry-run engine) scores them, and `take`
 * keeps the best 3. The search generator is pulled one hit at a time and closed as soon as `take` has its 10, so
 * only about 10 hits are ever produced, and at most those 10 are reranked (the last `take` stops the reranker once
 * it has 3).
 *
 *   npx tsx examples/pipeline/03_early_termination.ts
 */
import { Console, Effect, Schema } from "effect"
import { pathToFileURL } from "node:url"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Node from "sluice/Node"
import * as Pipeline from "sluice/Pipeline"

interface SearchQuery {
  readonly text: string
}
const Hit = Schema.Struct({ id: Schema.Number, title: Schema.String, distance: Schema.Number })
type Hit = typeof Hit.Type

const titles = ["Streams in Effect", "Backpressure explained", "Lazy pipelines", "Generators 101", "Vector search"]

let produced = 0

/** A stand-in vector index: yields hits by increasing distance, up to 1,000 of them, computing each on demand. */
function* vectorSearch(query: SearchQuery): Generator<Hit> {
  for (let id = 0; id < 1_000; id++) {
    produced++
    yield { id, title: `${titles[id % titles.length]} (${query.text})`, distance: id / 1_000 }
  }
}

const rerank = Llm.object({
  name: "rerank",
  input: Hit,
  output: Schema.Struct({ relevance: Schema.Number }),
  prompt: (hit) => `How relevant is "${hit.title}" to the query? Answer with a relevance between 0 and 1.`
})

export const pipeline = Pipeline.start<SearchQuery>({ name: "search" })
  // the design's `add("search", vectorSearchStep)`: one query in, a lazy stream of hits out
  .flatMap("search", (query) => vectorSearch(query))
  .take("topResults", 10)
  .map("rerank", (hit) => Effect.map(Node.run(rerank, hit), ({ relevance }) => ({ ...hit, relevance })), {
    concurrency: 4
  })
  .take("bestResults", 3)

export const program = Effect.gen(function*() {
  const results = yield* pipeline.executeToArray([{ text: "streaming pipelines" }])
  for (const hit of results) yield* Console.log(`#${hit.id} ${hit.title} (relevance ${hit.relevance.toFixed(2)})`)
  const metadata = yield* pipeline.metadata
  const reranked = metadata.steps.find((step) => step.step === "rerank")!.items
  yield* Console.log(`\nhits produced by the search: ${produced} of 1,000; reranked: ${reranked}`)
  return { results, produced, reranked }
})

export const main = program.pipe(Effect.provide(DryRun.layer({ latency: "30 millis" })))

// run when executed directly (the examples test imports `main`)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
