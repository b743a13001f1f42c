/**
 * Structured calls over HTTP: the CPU one call costs the client, against a local Chat Completions server in a process
 * of its own (`support/chatServer.ts`, a small streamed JSON reply), 2,000 calls, 16 in flight:
 *
 * - the floor: `node:http` with a keep-alive agent, the body read whole, its `data:` lines parsed with `JSON.parse`
 *   and the content parsed as JSON;
 * - a Chain LLM step's engine call (`OpenAiCompat`'s lower-level reply: the body read whole and decoded at once), the
 *   reply decoded with the step's schema;
 * - `LanguageModel.generateText` on the same engine (the `@effect/ai` service: a stream of parts folded).
 *
 * Both sluice variants go through `@effect/platform`'s `HttpClient` (undici). The table times wall clock; the
 * summary gives each variant's CPU per call (user + system of this process).
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as OpenAiCompat from "../src/engines/OpenAiCompat.js"
import * as Structured from "../src/internal/structured.js"
import type { Suite } from "./harness.js"

const CALLS = 2_000
const CONCURRENCY = 16
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

const here = path.dirname(fileURLToPath(import.meta.url))
const server = spawn(process.execPath, ["--import", "tsx", path.join(here, "support/chatServer.ts")], {
  cwd: path.dirname(here),
  stdio: ["ignore", "pipe", "inherit"]
})
process.on("exit", () => server.kill("SIGKILL"))
const port = await new Promise<number>((resolve, reject) => {
  server.stdout!.once("data", (data: Buffer) => resolve(Number(data.toString().trim())))
  server.once("exit", (code) => reject(new Error(`chat server exited (${code})`)))
})
const baseUrl = `http://127.0.0.1:${port}/v1`

const Category = Schema.Struct({ category: Schema.Literal("home", "office", "garden"), confidence: Schema.Number })
const format = { objectName: "category", schema: Category }

const pool = async (call: (i: number) => Promise<unknown>) => {
  let next = 0
  const worker = async () => {
    while (next < CALLS) await call(next++)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
const floorCall = (i: number) =>
  new Promise<unknown>((resolve, reject) => {
    const body = JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: `Classify ${i}` }] })
    const request = http.request(`${baseUrl}/chat/completions`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        let content = ""
        for (const line of Buffer.concat(chunks).toString().split("\n")) {
          if (!line.startsWith("data: {")) continue
          const event = JSON.parse(line.slice(6)) as { choices: Array<{ delta: { content?: string } }> }
          content += event.choices[0]?.delta.content ?? ""
        }
        resolve(JSON.parse(content))
      })
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(body)
  })

const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
const model = await runtime.runPromise(OpenAiCompat.make({ baseUrl, model: "m" }))

const stepCall = (i: number) =>
  Effect.runPromise(Structured.generate(model, {
    schema: Category,
    format,
    prompt: Prompt.make(`Classify ${i}`),
    guided: "auto",
    repairs: 0,
    onRepair: () => Effect.void
  }))

const serviceCall = (i: number) =>
  Effect.runPromise(
    LanguageModel.generateObject({ prompt: `Classify ${i}`, schema: Category }).pipe(
      Effect.provideService(LanguageModel.LanguageModel, model)
    )
  )

const cpu = new Map<string, number>()
const measured = (name: string, call: (i: number) => Promise<unknown>) => async () => {
  const start = process.cpuUsage()
  await pool(call)
  const used = process.cpuUsage(start)
  cpu.set(name, Math.min(cpu.get(name) ?? Infinity, (used.user + used.system) / CALLS))
}

const FLOOR = "node:http + JSON.parse (floor)"
const STEP = "Chain LLM step's engine call (lower-level reply)"
const SERVICE = "LanguageModel.generateObject (service)"

const suite: Suite = {
  name: `Structured calls over HTTP: ${fmt(CALLS)} calls, ${CONCURRENCY} in flight, local Chat Completions server`,
  description: "OpenAiCompat over @effect/platform's HttpClient (undici) against node:http; the server runs in its " +
    "own process; wall time per call in the table, client CPU per call below",
  units: { count: CALLS, label: "call" },
  rounds: 5,
  variants: [
    { name: FLOOR, run: measured(FLOOR, floorCall) },
    { name: STEP, run: measured(STEP, stepCall), baseline: FLOOR },
    { name: SERVICE, run: measured(SERVICE, serviceCall), baseline: FLOOR }
  ],
  summary: () => {
    const floor = cpu.get(FLOOR)!
    return [
      "",
      ...[FLOOR, STEP, SERVICE].map((name) =>
        `${name}: ${fmt(cpu.get(name)!)} µs of CPU per call (best run), ${fmt(cpu.get(name)! / floor, 2)}× the floor`
      )
    ]
  },
  cleanup: async () => {
    agent.destroy()
    await runtime.dispose()
    server.kill("SIGTERM")
  }
}

export default suite
