/**
 * Structured output: a ~100 KB structured reply streamed by the scripted engine in 4-character deltas, through
 * `Llm.object` (validated partials, raw partials, no partials) against the same reply through `Llm.text` (its floor:
 * the cost of streaming the text as Token events), all consumed as `Node.stream` events, in the same run.
 */
import { Effect, Schema, Stream } from "effect"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import type { Suite } from "./harness.js"

const Line = Schema.Struct({
  sku: Schema.String.pipe(Schema.pattern(/^SKU-\d+$/)),
  name: Schema.String,
  quantity: Schema.Number.pipe(Schema.int(), Schema.positive()),
  price: Schema.Number,
  tags: Schema.Array(Schema.String),
  note: Schema.optional(Schema.String)
})
const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.Struct({ name: Schema.String, email: Schema.String }),
  lines: Schema.Array(Line),
  total: Schema.Number
})

const lines = Array.from({ length: 730 }, (_, i) => ({
  sku: `SKU-${10_000 + i}`,
  name: `Item number ${i} with a "quoted" name and a café`,
  quantity: 1 + (i % 7),
  price: Math.round(i * 137.31) / 100,
  tags: ["alpha", "beta", "gamma"].slice(0, 1 + (i % 3)),
  ...(i % 4 === 0 ? { note: "fragile, handle with care" } : {})
}))
const reply = JSON.stringify({
  id: "order-1",
  customer: { name: "Ada Lovelace", email: "ada@example.com" },
  lines,
  total: lines.reduce((sum, line) => sum + line.price * line.quantity, 0)
})
const chunks = reply.match(/[\s\S]{1,4}/g)!
const engine = ScriptedEngine.layer({ reply: () => ({ chunks }) })

const drain = <E>(events: Stream.Stream<unknown, E, never>) =>
  Effect.runPromise(Stream.runFold(events, 0, (n) => n + 1))

const text = Llm.text({ name: "text", prompt: (s: string) => s })
const object = (partial: "validated" | "raw" | "none") =>
  Llm.object({ name: "order", input: Schema.String, output: Order, prompt: (s) => s, partial })

const run = <E>(node: Node.Node<string, unknown, E, any>) => () =>
  drain(Node.stream(node, "bench").pipe(Stream.provideLayer(engine)))

const suite: Suite = {
  name: "Llm.object streaming a ~100 KB structured reply (ScriptedEngine, 4-char deltas)",
  description:
    `${(reply.length / 1024).toFixed(0)} KB, ${chunks.length.toLocaleString()} deltas, ${lines.length} order ` +
    "lines; every variant consumes Node.stream's events",
  units: { count: chunks.length, label: "delta" },
  rounds: 7,
  variants: [
    { name: "Llm.text → Token events (floor)", run: run(text) },
    {
      name: "Llm.object, validated partials",
      baseline: "Llm.text → Token events (floor)",
      run: run(object("validated"))
    },
    { name: "Llm.object, raw partials", baseline: "Llm.text → Token events (floor)", run: run(object("raw")) },
    { name: "Llm.object, no partials", baseline: "Llm.text → Token events (floor)", run: run(object("none")) }
  ],
  summary: (medians) => {
    const floor = medians.get("Llm.text → Token events (floor)")!
    const validated = medians.get("Llm.object, validated partials")!
    const mbps = (reply.length / 1024 / 1024) / (validated / 1000)
    return [
      `validated partials: ${(validated / floor).toFixed(2)}× the Llm.text floor, ${mbps.toFixed(2)} MB/s of reply ` +
      `(${((validated - floor) * 1e6 / chunks.length).toFixed(0)} ns per delta over the floor)`
    ]
  }
}

export default suite
