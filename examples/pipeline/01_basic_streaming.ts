/**
 * Basic streaming: reviews flow through a pipeline that cleans them, summarises each one with a model (the offline
 * dry-run engine here, 8 calls at a time) and keeps the long summaries. Results are printed as they arrive, then
 * the per-step metadata of the run.
 *
 *   npx tsx examples/pipeline/01_basic_streaming.ts
 */
import { Console, Effect, Stream } from "effect"
import { pathToFileURL } from "node:url"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Pipeline from "sluice/Pipeline"

interface Review {
  readonly id: number
  readonly text: string
}

const reviews: ReadonlyArray<Review> = [
  "Great kettle, boils fast and quietly.",
  "   The lid broke after two weeks.   ",
  "",
  "Does what it says. The cable is a bit short.",
  "Lovely design, but the handle gets hot.",
  "Five stars, would buy again!"
].map((text, id) => ({ id, text }))

const pipeline = Pipeline.start<Review>({ name: "reviews" })
  // a plain function step: trim the text
  .map("clean", (review) => Effect.succeed({ ...review, text: review.text.trim() }))
  // drop empty reviews
  .filter("non-empty", (review) => review.text.length > 0)
  // a model step: any Node works; Llm.text streams tokens and returns the whole text
  .map("summarise", Llm.text({ name: "llm", prompt: (review: Review) => `Summarise this review: ${review.text}` }), {
    concurrency: 8
  })
  .filter("long-enough", (summary) => summary.length > 40)

export const program = Effect.gen(function*() {
  yield* Console.log("summaries, as they arrive:")
  const summaries: Array<string> = []
  yield* pipeline.execute(reviews).pipe(
    Stream.runForEach((summary) => {
      summaries.push(summary)
      return Console.log(`- ${summary.slice(0, 100)}…`)
    })
  )

  const metadata = yield* pipeline.metadata
  yield* Console.log(`\nrun ${metadata.runId}: ${metadata.status} in ${metadata.durationMs} ms`)
  for (const step of metadata.steps) {
    yield* Console.log(
      `  ${step.step.padEnd(12)} ${step.items} in, ${step.outputs} out, p50 ${step.p50 ?? "-"} ms, p95 ${
        step.p95 ?? "-"
      } ms`
    )
  }
  return { summaries, metadata }
})

export const main = program.pipe(Effect.provide(DryRun.layer({ latency: "40 millis" })))

// run when executed directly (the examples test imports `main`)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
