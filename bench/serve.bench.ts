/**
 * Served overhead. (1) Tokens per second of an agent streamed over `POST /v1/chat/completions` to the official
 * `openai` client, against the same agent prompted in process (`Agent.promptText`), on the same scripted engine,
 * in one run (target: served ≥ 80% of in process). (2) Requests per second of a trivial runnable
 * (`POST /runs/upper`, an SSE run of a `Node.fromFunction`) at 64 concurrent clients, against a bare `node:http`
 * server answering the same bytes (the floor: what any Node server pays).
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import OpenAI from "openai"
import * as Agent from "../src/Agent.js"
import * as Node from "../src/Node.js"
import * as Serve from "../src/Serve.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import type { Suite } from "./harness.js"

const TOKENS = 20_000
const REQUESTS = 2_000
const CONCURRENCY = 64

const chunks = Array.from({ length: TOKENS }, (_, i) => `t${i % 10} `)
const engine = ScriptedEngine.layer({ reply: () => ({ chunks }) })
const makeAgent = Agent.make({ system: "You stream." })

const runtime = ManagedRuntime.make(
  Serve.layer([
    Serve.agent("streamer", makeAgent),
    Serve.node(Node.fromFunction("upper", (s: string) => s.toUpperCase()), { input: Schema.String })
  ], { token: undefined, concurrency: 1024 }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(engine)
  )
)
const address = await runtime.runPromise(Effect.map(HttpServer.HttpServer, (s) => s.address as HttpServer.TcpAddress))
const base = `http://127.0.0.1:${address.port}`
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "none", maxRetries: 0 })

// the floor of the request rate: a bare node:http server answering a recorded run's bytes
const recorded = await fetch(`${base}/runs/upper`, { method: "POST", body: "\"hi\"" }).then((r) => r.text())
const bare = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/event-stream" })
    res.end(recorded)
  })
})
await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve))
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/runs/upper`

const hammer = async (url: string) => {
  let next = 0
  const worker = async () => {
    while (next < REQUESTS) {
      next++
      const response = await fetch(url, { method: "POST", body: "\"hi\"" })
      await response.text()
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

const tokens: Suite = {
  name: "Serve: an agent's tokens over /v1/chat/completions",
  description: `one prompt whose reply streams ${TOKENS.toLocaleString()} text deltas; the official openai client ` +
    "reads the served stream",
  units: { count: TOKENS, label: "token" },
  rounds: 5,
  variants: [
    {
      name: "Agent.promptText in process (floor)",
      run: () =>
        runtime.runPromise(
          Effect.scoped(Effect.flatMap(makeAgent, (agent) => Agent.promptText(agent, "go")))
        )
    },
    {
      name: "served → openai client, stream: true",
      baseline: "Agent.promptText in process (floor)",
      run: async () => {
        const stream = await client.chat.completions.create({
          model: "streamer",
          stream: true,
          messages: [{ role: "user", content: "go" }]
        })
        let n = 0
        for await (const chunk of stream) n += chunk.choices[0]?.delta.content?.length ?? 0
        if (n < TOKENS * 3) throw new Error(`only ${n} characters`)
      }
    }
  ],
  summary: (medians) => {
    const local = medians.get("Agent.promptText in process (floor)")!
    const served = medians.get("served → openai client, stream: true")!
    const share = local / served
    return [
      `served tokens/s: ${Math.round((TOKENS / served) * 1000).toLocaleString()} vs in process ` +
      `${Math.round((TOKENS / local) * 1000).toLocaleString()}: ${(share * 100).toFixed(0)}% ` +
      `(target ≥ 80%: ${share >= 0.8 ? "met" : "not met"})`
    ]
  }
}

const requests: Suite = {
  name: "Serve: requests per second of a trivial runnable at c=64",
  description: `${REQUESTS.toLocaleString()} POST /runs/upper (an SSE run: StepStart, StepEnd, result) from ` +
    `${CONCURRENCY} concurrent fetch clients`,
  units: { count: REQUESTS, label: "request" },
  rounds: 3,
  variants: [
    { name: "bare node:http, same bytes (floor)", run: () => hammer(bareUrl) },
    {
      name: "Serve.node route",
      baseline: "bare node:http, same bytes (floor)",
      run: () => hammer(`${base}/runs/upper`)
    }
  ],
  summary: (medians) => {
    const served = medians.get("Serve.node route")!
    bare.close()
    void runtime.dispose()
    return [`Serve: ${Math.round((REQUESTS / served) * 1000).toLocaleString()} requests/s at c=${CONCURRENCY}`]
  }
}

export default [tokens, requests]
