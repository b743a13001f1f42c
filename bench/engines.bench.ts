/**
 * Engine streaming throughput, end to end: a 100,000-token Chat Completions stream (realistic chunk objects, 1–4 KB
 * network chunks) through `OpenAiCompat` → `LanguageModel` (parts decoded as its schema decodes them) → an `Llm.text`
 * node → `Token` events counted by the consumer, against:
 *
 * - the floor: a hand-written streaming `TextDecoder` + `split("\n")` + `JSON.parse` over the same byte chunks;
 * - `eventsource-parser` 3.1.1 + `JSON.parse` over the same chunks.
 *
 * The engine runs twice: over an in-process `HttpClient` whose response body is the same chunks (so the figures
 * measure sluice, not sockets), and over real HTTP against `ScriptedServer` (undici client, loopback), next to a floor
 * that reads the same server with `fetch`. A variant consuming `LanguageModel.streamText` parts (no node) separates
 * the engine from the node layer.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createParser } from "eventsource-parser"
import * as http from "node:http"
import * as OpenAiCompat from "../src/engines/OpenAiCompat.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as ScriptedServer from "../src/testing/ScriptedServer.js"
import type { Suite } from "./harness.js"
import { dataLines, deltaText, networkChunks } from "./support/chatStream.js"

const TOKENS = 100_000

const makeBody = (): Uint8Array => {
  const parts: Array<string> = []
  const base = { id: "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz01", object: "chat.completion.chunk", created: 1_700_000_000 }
  const meta = { ...base, model: "gpt-4o-2024-08-06", system_fingerprint: "fp_2a322c9ffc" }
  parts.push(
    `data: ${
      JSON.stringify({
        ...meta,
        choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]
      })
    }\n\n`
  )
  for (let i = 0; i < TOKENS; i++) {
    const chunk = {
      ...meta,
      choices: [{ index: 0, delta: { content: ` tok${i % 1000}` }, logprobs: null, finish_reason: null }]
    }
    parts.push(`data: ${JSON.stringify(chunk)}\n\n`)
  }
  parts.push(
    `data: ${
      JSON.stringify({ ...meta, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] })
    }\n\n`
  )
  parts.push(
    `data: ${
      JSON.stringify({
        ...meta,
        choices: [],
        usage: { prompt_tokens: 9, completion_tokens: TOKENS, total_tokens: TOKENS + 9 }
      })
    }\n\n`
  )
  parts.push("data: [DONE]\n\n")
  return new TextEncoder().encode(parts.join(""))
}

const body = makeBody()
const chunks = networkChunks(body)

let EXPECTED_CHARS = 0
for (let i = 0; i < TOKENS; i++) EXPECTED_CHARS += ` tok${i % 1000}`.length

/** Every variant counts the characters of the text it received: coalesced or not, all the tokens must arrive. */
const check = (chars: number): number => {
  if (chars !== EXPECTED_CHARS) throw new Error(`expected ${EXPECTED_CHARS} characters of tokens, got ${chars}`)
  return chars
}

// -----------------------------------------------------------------------------
// floors
// -----------------------------------------------------------------------------

/** The floor's consumer: counts the characters of the tokens of the `data: ` lines it is fed. */
const tokenCounter = () => {
  let chars = 0
  const feed = dataLines((data) => {
    chars += deltaText(data)?.length ?? 0
  })
  return { feed, chars: () => chars }
}

const floor = () => {
  const counter = tokenCounter()
  chunks.forEach(counter.feed)
  return check(counter.chars())
}

const eventsourceParser = () => {
  let tokens = 0
  const parser = createParser({
    onEvent: (event) => {
      tokens += deltaText(event.data)?.length ?? 0
    }
  })
  const decoder = new TextDecoder()
  for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }))
  return check(tokens)
}

// -----------------------------------------------------------------------------
// the engine
// -----------------------------------------------------------------------------

const headers = { status: 200, headers: { "content-type": "text/event-stream" } }

/**
 * An in-process HttpClient answering every request with the body, one network chunk per `Stream` chunk, the
 * chunks available at once: what remains is sluice's (and Effect's) cost per chunk and per token.
 */
const InProcess = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.sync(() =>
      Object.create(HttpClientResponse.fromWeb(request, new Response(null, headers)), {
        stream: { get: () => Stream.fromIterable(chunks.map(Chunk.of)).pipe(Stream.flattenChunks) }
      }) as HttpClientResponse.HttpClientResponse
    )
  )
)

/** The same, through a web `ReadableStream` (as `fetch` gives): one promise, and one async hop, per network chunk. */
const InProcessWeb = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.sync(() => {
      let i = 0
      const stream = new ReadableStream<Uint8Array>({
        pull: (controller) => {
          if (i < chunks.length) controller.enqueue(chunks[i++]!)
          else controller.close()
        }
      })
      return HttpClientResponse.fromWeb(request, new Response(stream, headers))
    })
  )
)

const node = Llm.text({ name: "llm", prompt: (s: string) => s })

const countTokens = (events: Stream.Stream<Node.Emission<string> | unknown, unknown, LanguageModel.LanguageModel>) => {
  let tokens = 0
  return Stream.runForEachChunk(events, (chunk) =>
    Effect.sync(() => {
      for (const event of Chunk.toReadonlyArray(chunk)) {
        const e = event as { _tag?: string; text?: string }
        if (e._tag === "Token") tokens += e.text!.length
      }
    })).pipe(Effect.map(() => check(tokens)))
}

const countParts = Effect.suspend(() => {
  let tokens = 0
  return Stream.runForEachChunk(LanguageModel.streamText({ prompt: "Go" }), (chunk) =>
    Effect.sync(() => {
      for (const part of Chunk.toReadonlyArray(chunk)) if (part.type === "text-delta") tokens += part.delta.length
    })).pipe(Effect.map(() => check(tokens)))
})

const viaNode = Effect.suspend(() => countTokens(Node.stream(node, "Go") as any))

const inProcess = ManagedRuntime.make(
  OpenAiCompat.layer({ baseUrl: "http://in-process/v1", model: "gpt-4o" }).pipe(Layer.provide(InProcess))
)
const inProcessWeb = ManagedRuntime.make(
  OpenAiCompat.layer({ baseUrl: "http://in-process/v1", model: "gpt-4o" }).pipe(Layer.provide(InProcessWeb))
)
const perToken = ManagedRuntime.make(
  OpenAiCompat.layer({ baseUrl: "http://in-process/v1", model: "gpt-4o", coalesceDeltas: false }).pipe(
    Layer.provide(InProcess)
  )
)

// the server lives for the whole benchmark process
const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(
  Scope.extend(
    ScriptedServer.make({
      reply: { headers: { "content-type": "text/event-stream" }, body, chunkSizes: chunks.map((chunk) => chunk.length) }
    }),
    scope
  )
)
const overHttp = ManagedRuntime.make(
  OpenAiCompat.layer({ baseUrl: `${server.url}/v1`, model: "gpt-4o" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
)

/** The HTTP floor: `node:http` (no fetch, no web streams), each received chunk split into lines and parsed as it arrives. */
const httpFloor = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/v1/chat/completions`, { method: "POST", agent }, (response) => {
      const counter = tokenCounter()
      response.on("data", counter.feed)
      response.on("end", () => resolve(check(counter.chars())))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end("{}")
  })
const agent = new http.Agent({ keepAlive: true })

const FLOOR = "floor: TextDecoder + split lines + JSON.parse (in memory)"
const ESP = "eventsource-parser 3.1.1 + JSON.parse (in memory)"
const PARTS = "OpenAiCompat → streamText parts (in-process HttpClient)"
const NODE = "OpenAiCompat → Llm.text → Token events (in-process HttpClient)"
const PER_TOKEN = "same, coalesceDeltas: false (one part per server event)"
const WEB = "same, body as a web ReadableStream (in-process)"
const HTTP_FLOOR = "floor over HTTP: node:http + split lines + JSON.parse (ScriptedServer)"
const HTTP_NODE = "OpenAiCompat → Llm.text → Token events (undici + ScriptedServer)"

const suite: Suite = {
  name: "engines",
  description: `${TOKENS.toLocaleString("en-US")}-token Chat Completions stream, ${
    (body.length / 1024 / 1024).toFixed(1)
  } MiB in ${chunks.length.toLocaleString("en-US")} chunks of 1–4 KB, to counted tokens`,
  units: { count: TOKENS, label: "token" },
  rounds: 5,
  variants: [
    { name: FLOOR, run: floor },
    { name: ESP, run: eventsourceParser, baseline: FLOOR },
    { name: PARTS, run: () => inProcess.runPromise(countParts), baseline: FLOOR },
    { name: NODE, run: () => inProcess.runPromise(viaNode), baseline: FLOOR },
    { name: PER_TOKEN, run: () => perToken.runPromise(viaNode), baseline: FLOOR },
    { name: WEB, run: () => inProcessWeb.runPromise(viaNode), baseline: FLOOR },
    { name: HTTP_FLOOR, run: httpFloor, baseline: FLOOR },
    { name: HTTP_NODE, run: () => overHttp.runPromise(viaNode), baseline: HTTP_FLOOR }
  ],
  summary: (medians) => {
    // the last call of the harness: release the server and the HTTP runtimes so that the process can exit
    void Effect.runPromise(Scope.close(scope, Exit.void)).then(() => overHttp.dispose()).then(() => inProcess.dispose())
      .then(() => perToken.dispose()).then(() => inProcessWeb.dispose()).then(() => agent.destroy())
    const share = (name: string, base: string) => (medians.get(base)! / medians.get(name)!) * 100
    const node = share(NODE, FLOOR)
    const http = share(HTTP_NODE, HTTP_FLOOR)
    return [
      "",
      `Tokens/s as a share of the floor's: eventsource-parser ${share(ESP, FLOOR).toFixed(0)}%, engine parts ${
        share(PARTS, FLOOR).toFixed(0)
      }%, engine → Llm.text → Token events ${node.toFixed(0)}% (in-process; ${
        share(PER_TOKEN, FLOOR).toFixed(0)
      }% without coalescing, ${share(WEB, FLOOR).toFixed(0)}% from a web ReadableStream); over HTTP ${
        http.toFixed(0)
      }% of the HTTP floor.`,
      `Target (issue 4): >= 50% of the floor's tokens/s end to end: ${node >= 50 ? "met" : "MISSED"} in process, ${
        http >= 50 ? "met" : "MISSED"
      } over HTTP.`
    ]
  }
}

export default suite
