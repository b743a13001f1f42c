/**
 * The demo: a small review-analysis pipeline over a bundled JSONL file, on the offline `dry-run` engine.
 *
 * For each review it streams a one-line summary token by token (`Llm.text`) and extracts a typed sentiment record
 * (`Llm.object`, guided by a `Schema`), with retries, three reviews in flight at a time. Swap `DryRun.layer(...)` for
 * any `LanguageModel` Layer to run it on a real model.
 *
 *   npx tsx examples/reviews.ts [path/to/reviews.jsonl]
 */
import { FileSystem } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schedule, Schema, Stream } from "effect"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Node from "sluice/Node"

const Review = Schema.Struct({ id: Schema.String, product: Schema.String, text: Schema.String, stars: Schema.Number })

const Sentiment = Schema.Struct({
  label: Schema.Literal("positive", "mixed", "negative"),
  confidence: Schema.Number.pipe(Schema.between(0, 1)),
  aspects: Schema.Array(Schema.Struct({ aspect: Schema.String, positive: Schema.Boolean }))
})

const summarise = Llm.text({
  name: "summarise",
  system: "You summarise product reviews in one short sentence.",
  prompt: (review: typeof Review.Type) => `Review of ${review.product}: ${review.text}`
}).pipe(Node.retry(Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(3)))))

const classify = Llm.object({
  name: "classify",
  input: Review,
  output: Sentiment,
  prompt: (review) => `Classify the sentiment of this ${review.stars}-star review: ${review.text}`
}).pipe(Node.retry(Schedule.recurs(2)))

const file = process.argv[2] ?? new URL("./data/reviews.jsonl", import.meta.url).pathname

const program = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  yield* Console.log(`sluice demo: ${file} on the dry-run engine\n`)
  const reviews = fs.stream(file).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filter((line) => line.trim().length > 0),
    Stream.mapEffect((line) => Schema.decodeUnknown(Schema.parseJson(Review))(line))
  )
  const results = yield* reviews.pipe(
    Stream.mapEffect((review) =>
      Effect.gen(function*() {
        // Stream the summary's tokens as they arrive, then extract the structured record.
        const tokens = Node.tokens(Node.stream(summarise, review))
        const summary = yield* Stream.runFold(tokens, "", (text, token) => text + token)
        const sentiment = yield* Node.run(classify, review)
        return { id: review.id, summary, sentiment }
      }), { concurrency: 3 }),
    Stream.tap((result) =>
      Console.log(
        `${result.id}  ${result.sentiment.label.padEnd(8)} (${
          result.sentiment.confidence.toFixed(2)
        })  ${result.summary}`
      )
    ),
    Stream.runCollect
  )
  yield* Console.log(`\nLive tokens of one more summary:`)
  const first = yield* Schema.decodeUnknown(Review)({ id: "r0", product: "sluice", text: "Typed streams!", stars: 5 })
  yield* Node.stream(summarise, first).pipe(
    Node.tokens,
    Stream.runForEach((token) => Effect.sync(() => process.stdout.write(token)))
  )
  yield* Console.log(`\n\n${results.length} reviews processed.`)
})

program.pipe(
  Effect.provide(DryRun.layer({ latency: "30 millis", tokensPerSecond: 400, seed: 1 })),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
