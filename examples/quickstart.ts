/**
 * The README's quick start, kept compiling: `npx tsx examples/quickstart.ts`.
 */
import { Effect, Schedule, Schema, Stream } from "effect"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Node from "sluice/Node"

const summarise = Llm.text({
  name: "summarise",
  system: "Summarise in one sentence.",
  prompt: (doc: string) => doc
}).pipe(Node.retry(Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3)))))

const Sentiment = Schema.Struct({ label: Schema.Literal("positive", "negative"), confidence: Schema.Number })
const classify = Llm.object({
  name: "classify",
  input: Schema.String,
  output: Sentiment,
  prompt: (doc) => `Classify the sentiment of: ${doc}`,
  partial: "validated", // stream only complete, valid fields as PartialFields events
  repair: 2 // re-ask with the validation issues when the reply does not decode
})

const program = Effect.gen(function*() {
  // stream the summary's tokens as they arrive…
  yield* Node.stream(summarise, "A long review…").pipe(
    Node.tokens,
    Stream.runForEach((token) => Effect.sync(() => process.stdout.write(token)))
  )
  // …or run a node for its typed result
  const sentiment = yield* Node.run(classify, "Loved it")
  console.log(sentiment.label)
})

// dry-run needs no model; provide any other LanguageModel Layer to use a real one
program.pipe(Effect.provide(DryRun.layer()), Effect.runPromise)
