/**
 * Real-time filtering: an endless feed of posts (one every 5 ms) is classified by a structured model call (the
 * offline dry-run engine: 25 ms per call, 10% of calls fail), 8 at a time and unordered so that each verdict is
 * passed on as soon as it is ready. Failed calls are retried once, then skipped. Negative posts raise an alert, and
 * the run stops after 10 alerts: `take` interrupts the feed and the calls in flight.
 *
 * The run is observed through its events: alerts, retries and skipped posts are printed as they happen. (The
 * dry-run engine's verdicts are arbitrary but deterministic; a real model reads the text.)
 *
 *   npx tsx examples/pipeline/05_realtime_filtering.ts
 */
import { Console, Effect, Schedule, Schema, Stream } from "effect"
import { pathToFileURL } from "node:url"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Node from "sluice/Node"
import * as Pipeline from "sluice/Pipeline"

const Post = Schema.Struct({ id: Schema.Number, author: Schema.String, text: Schema.String })
type Post = typeof Post.Type

const Verdict = Schema.Struct({
  label: Schema.Literal("positive", "neutral", "negative"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
})

const texts = [
  "Loving the new release!",
  "The app crashed again during checkout.",
  "Anyone knows how to export my data?",
  "Worst support experience ever.",
  "Thanks for the quick fix."
]
const authors = ["ana", "ben", "chloé", "dev", "eli"]

/** An endless feed: a post every 5 milliseconds. */
const feed: Stream.Stream<Post> = Stream.iterate(1, (id) => id + 1).pipe(
  Stream.map((id) => ({ id, author: authors[id % authors.length]!, text: texts[(id * 7) % texts.length]! })),
  Stream.schedule(Schedule.spaced("5 millis"))
)

const classify = Llm.object({
  name: "classify",
  input: Post,
  output: Verdict,
  prompt: (post) => `Classify the sentiment of this post: ${post.text}`
})

const pipeline = Pipeline.start<Post>({ name: "moderation" })
  .map("classify", (post) => Effect.map(Node.run(classify, post), (verdict) => ({ post, verdict })), {
    concurrency: 8,
    ordered: false,
    errorStrategy: "SKIP_FAILED",
    retry: { maxAttempts: 2, backoff: "5 millis" }
  })
  .filter("negative", ({ verdict }) => verdict.label === "negative")
  .take("first-10", 10)
  .map(
    "alert",
    ({ post, verdict }) =>
      Effect.succeed(`ALERT #${post.id} @${post.author}: "${post.text}" (confidence ${verdict.confidence.toFixed(2)})`)
  )

export const program = Effect.gen(function*() {
  let alerts = 0
  // one run, observed through its events: alerts are the outputs of the "alert" step
  yield* pipeline.events(feed).pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "StepEnd":
          if (event.path[1] !== "alert") return Effect.void
          alerts++
          return Console.log(String(event.output))
        case "Retry":
          return Console.log(`  retrying post #${Number(event.path[2]) + 1} after ${event.delayMs} ms: ${event.error}`)
        case "StepError":
          return Console.log(`  skipped post #${(event.item ?? 0) + 1}: ${event.error}`)
        case "RunEnd":
          return Console.log(`run ended (${event.status}) after ${event.durationMs} ms`)
        default:
          return Effect.void
      }
    })
  )
  const metadata = yield* pipeline.metadata
  const step = metadata.steps.find((s) => s.step === "classify")!
  yield* Console.log(
    `${step.items} posts classified at ${step.throughput.toFixed(0)} posts/s, ` +
      `${step.retries} retries, ${step.errors} skipped, p95 ${step.p95} ms`
  )
  return { alerts, metadata }
})

export const main = program.pipe(Effect.provide(DryRun.layer({ latency: "25 millis", failureRate: 0.1 })))

// run when executed directly (the examples test imports `main`)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
