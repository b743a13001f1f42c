/**
 * Early termination: look for the first 5 urgent tickets in a backlog of 100,000 (a lazy generator), classifying
 * each with a structured model call (the offline dry-run engine, 8 calls at a time). `take` stops pulling as soon as
 * it has 5, so only a handful of tickets beyond those are ever classified: at most `n + concurrency + bufferSize`.
 *
 *   npx tsx examples/pipeline/03_early_termination.ts
 */
import { Console, Effect, Schema } from "effect"
import * as DryRun from "sluice/engines/DryRun"
import * as Llm from "sluice/Llm"
import * as Node from "sluice/Node"
import * as Pipeline from "sluice/Pipeline"

const Ticket = Schema.Struct({ id: Schema.Number, subject: Schema.String })
type Ticket = typeof Ticket.Type

const Triage = Schema.Struct({
  priority: Schema.Literal("low", "normal", "urgent"),
  team: Schema.Literal("billing", "shipping", "support")
})

function* backlog(): Generator<Ticket> {
  const subjects = ["Refund not received", "Parcel lost", "Cannot log in", "Invoice is wrong", "Package damaged"]
  for (let id = 1; id <= 100_000; id++) yield { id, subject: `${subjects[id % subjects.length]} (#${id})` }
}

const triage = Llm.object({
  name: "triage",
  input: Ticket,
  output: Triage,
  prompt: (ticket) => `Triage this support ticket: ${ticket.subject}`
})

const pipeline = Pipeline.start<Ticket>({ name: "first-urgent" })
  .map("triage", (ticket) => Effect.map(Node.run(triage, ticket), (result) => ({ ticket, triage: result })), {
    concurrency: 8,
    bufferSize: 8
  })
  .filter("urgent", ({ triage }) => triage.priority === "urgent")
  .take("first-5", 5)

const program = Effect.gen(function*() {
  const started = Date.now()
  const urgent = yield* pipeline.executeToArray(backlog())
  for (const { ticket, triage } of urgent) yield* Console.log(`#${ticket.id} ${ticket.subject} → ${triage.team}`)
  const metadata = yield* pipeline.metadata
  const calls = metadata.steps.find((step) => step.step === "triage")!.items
  yield* Console.log(`\n${urgent.length} urgent tickets found in ${Date.now() - started} ms`)
  yield* Console.log(`model calls made: ${calls} of 100,000 tickets (take stopped the rest)`)
})

Effect.runPromise(program.pipe(Effect.provide(DryRun.layer({ latency: "30 millis" }))))
