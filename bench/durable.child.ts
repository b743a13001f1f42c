/**
 * The chain and engine of the `durable` benchmark, and its runner process: `node --import tsx
 * bench/durable.child.ts <postgres url> <port>` serves the chain on a 50 ms minimal engine until killed. With
 * `SLUICE_BENCH_LOG` set, every row appends `<pid> <row> <ms>` to that file (the recovery figure reads it).
 */
import { LanguageModel } from "@effect/ai"
import { Effect, Layer, Schema, Stream } from "effect"
import { appendFileSync } from "node:fs"
import * as Chain from "../src/Chain.js"
import * as Durable from "../src/Durable.js"

export const LATENCY = 50

const Product = Schema.Struct({ sku: Schema.String, title: Schema.String, description: Schema.String })
const Category = Schema.Struct({ category: Schema.String, confidence: Schema.Number })

const log = process.env.SLUICE_BENCH_LOG

export const chain = Chain.make({
  name: "durable-bench",
  steps: [
    Chain.apply("seen", (p: typeof Product.Type) => {
      if (log !== undefined) appendFileSync(log, `${process.pid} ${p.sku} ${Date.now()}\n`)
      return p
    }, { input: Product, output: Product, version: "1" }),
    Chain.llm({ id: "classify", input: Product, output: Category, prompt: "Classify {{title}}: {{description}}" })
  ]
})

const reply = () =>
  new LanguageModel.GenerateTextResponse([
    { type: "text", text: `{"category":"home","confidence":0.5}` },
    { type: "finish", reason: "stop", usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 } }
  ] as any)

/** A minimal engine: `generateText` sleeps 50 ms and returns a fixed reply. */
export const minimal = Layer.succeed(
  LanguageModel.LanguageModel,
  {
    generateText: () => Effect.as(Effect.sleep(LATENCY), reply()),
    generateObject: () => Effect.dieMessage("not used"),
    streamText: () => Stream.dieMessage("not used")
  } as unknown as LanguageModel.Service
)

if (process.argv[1]?.endsWith("durable.child.ts") && process.argv.length >= 4) {
  const [url, port] = process.argv.slice(2) as [string, string]
  await Layer.launch(
    Durable.serve([chain]).pipe(
      Layer.provide(Durable.layerPostgres({ url, runner: { host: "127.0.0.1", port: Number(port) } })),
      Layer.provide(minimal),
      Layer.tap(() => Effect.sync(() => process.stdout.write("serving\n")))
    )
  ).pipe(Effect.runPromise)
}
