/**
 * Serve over a real socket, with real clients: the official `openai` client against served agents on the scripted
 * engine, plain `fetch` reading SSE runs, and sluice's Proxy engine.
 */
import { Tool, Toolkit } from "@effect/ai"
import { HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Deferred, Effect, FiberId, Layer, Option, Redacted, Schema, Stream } from "effect"
import { createServer } from "node:http"
import OpenAI from "openai"
import * as Agent from "../src/Agent.js"
import * as Proxy from "../src/engines/Proxy.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as Serve from "../src/Serve.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { gated } from "./support/nodes.js"

const TOKEN = "t0ken-for-tests"

const Weather = Tool.make("weather", {
  description: "Temperature in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ celsius: Schema.Number })
})

/** The scripted model: answers by what the prompt holds. */
const engine = ScriptedEngine.layer({
  tokenSize: 3,
  reply: (request) => {
    if (Option.isSome(request.format)) return { object: { name: "Ada", age: 36 } }
    if (request.text.includes("local_lookup -> ")) return "The lookup says 42."
    if (request.tools.includes("local_lookup")) {
      return { toolCalls: [{ id: "call_1", name: "local_lookup", params: { key: "answer" } }] }
    }
    if (request.text.includes("weather -> ")) return "It is 7 degrees in Oslo."
    if (request.text.includes("Oslo")) return { toolCalls: [{ name: "weather", params: { city: "Oslo" } }] }
    return `Echo: ${request.text.split("\n").at(-1)}`
  }
})

const finalized: Array<string> = []
const started = Deferred.unsafeMake<void>(FiberId.none)
const release = Deferred.unsafeMake<void>(FiberId.none)

const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
const failing = Node.fromEffect("failing", (n: number) => Effect.fail({ _tag: "TooBig", limit: 10, n } as const))
const hanging = gated("hanging", { started, release, finalized })

const routes = [
  Serve.agent(
    "assistant",
    Agent.make({
      system: "You answer weather questions.",
      tools: Toolkit.make(Weather),
      handlers: { weather: ({ city }) => Effect.succeed({ celsius: city.length + 3 }) }
    })
  ),
  Serve.llm(Llm.text({ name: "echo", prompt: (s: string) => s })),
  Serve.node(upper, { input: Schema.String }),
  Serve.node(failing, { input: Schema.Number }),
  Serve.node(hanging, { input: Schema.String, concurrency: 1 })
] as const

const server = Serve.layer(routes, { token: Redacted.make(TOKEN), maxBodyBytes: 2048 }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(engine)
)

const baseUrl = Effect.map(HttpServer.HttpServer, (s) => {
  const address = s.address as HttpServer.TcpAddress
  return `http://${address.hostname}:${address.port}`
})

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, ...headers },
      body
    })
  )

/** SSE blocks of a whole response: `{ event, data }`. */
const readSse = (response: Response) =>
  Effect.promise(async () => {
    const text = await response.text()
    return text.split("\n\n").filter((block) => block.trim().length > 0).map((block) => {
      const lines = block.split("\n")
      const event = lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "message"
      const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n")
      return { event, data: JSON.parse(data) }
    })
  })

const openai = Effect.map(baseUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: TOKEN, maxRetries: 0 }))

layer(server, { timeout: 30_000, excludeTestServices: true })("Serve", (it) => {
  describe("OpenAI-compatible, with the official client", () => {
    it.effect("streams an agent's text", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const stream = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "assistant",
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: "user", content: "Hello there" }]
          })
        )
        const deltas: Array<string> = []
        let finish: string | null = null
        let usage: unknown
        yield* Effect.promise(async () => {
          for await (const chunk of stream) {
            const choice = chunk.choices[0]
            if (choice?.delta.content) deltas.push(choice.delta.content)
            if (choice?.finish_reason) finish = choice.finish_reason
            if (chunk.usage) usage = chunk.usage
          }
        })
        assert.isAtLeast(deltas.length, 1)
        assert.strictEqual(deltas.join(""), "Echo: user: Hello there")
        assert.strictEqual(finish, "stop")
        assert.isAbove((usage as { total_tokens: number }).total_tokens, 0)
      }))

    it.effect("runs the agent's own tools on the server, and answers without streaming", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "assistant",
            messages: [{ role: "user", content: "How warm is it in Oslo?" }]
          })
        )
        assert.strictEqual(completion.object, "chat.completion")
        assert.strictEqual(completion.choices[0]!.message.content, "It is 7 degrees in Oslo.")
        assert.strictEqual(completion.choices[0]!.finish_reason, "stop")
      }))

    it.effect("a client tool: tool_calls out, the result back in, the final answer", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const tools = [{
          type: "function" as const,
          function: {
            name: "local_lookup",
            description: "Looks a key up on the client",
            parameters: { type: "object", properties: { key: { type: "string" } }, required: ["key"] }
          }
        }]
        const first = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "assistant",
            tools,
            messages: [{ role: "user", content: "What is the answer?" }]
          })
        )
        const message = first.choices[0]!.message
        assert.strictEqual(first.choices[0]!.finish_reason, "tool_calls")
        const call = message.tool_calls![0]!
        assert.strictEqual(call.type, "function")
        if (call.type !== "function") return
        assert.strictEqual(call.function.name, "local_lookup")
        assert.deepStrictEqual(JSON.parse(call.function.arguments), { key: "answer" })
        const second = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "assistant",
            tools,
            stream: true,
            messages: [
              { role: "user", content: "What is the answer?" },
              message,
              { role: "tool", tool_call_id: call.id, content: JSON.stringify({ value: 42 }) }
            ]
          })
        )
        let text = ""
        yield* Effect.promise(async () => {
          for await (const chunk of second) text += chunk.choices[0]?.delta.content ?? ""
        })
        assert.strictEqual(text, "The lookup says 42.")
      }))

    it.effect("structured output through response_format json_schema", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "assistant",
            messages: [{ role: "user", content: "Who wrote the first program?" }],
            response_format: {
              type: "json_schema",
              json_schema: {
                name: "person",
                strict: true,
                schema: {
                  type: "object",
                  properties: { name: { type: "string" }, age: { type: "number" } },
                  required: ["name", "age"],
                  additionalProperties: false
                }
              }
            }
          })
        )
        assert.deepStrictEqual(JSON.parse(completion.choices[0]!.message.content!), { name: "Ada", age: 36 })
        const requests = yield* ScriptedEngine.requests
        const asked = requests.find((request) => Option.isSome(request.format))!
        assert.strictEqual(Option.getOrThrow(asked.format).objectName, "person")
      }))

    it.effect("errors are OpenAI-shaped: unknown model, bad request, missing token", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const missing = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] }).then(
            () => undefined,
            (error: unknown) => error
          )
        )
        assert.instanceOf(missing, OpenAI.NotFoundError)
        assert.strictEqual((missing as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found")
        const invalid = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "assistant", messages: [] }).then(() => undefined, (e) => e)
        )
        assert.instanceOf(invalid, OpenAI.BadRequestError)
        const url = yield* baseUrl
        const anonymous = new OpenAI({ baseURL: `${url}/v1`, apiKey: "wrong", maxRetries: 0 })
        const denied = yield* Effect.promise(() => anonymous.models.list().then(() => undefined, (e) => e))
        assert.instanceOf(denied, OpenAI.AuthenticationError)
        const models = yield* Effect.promise(() => client.models.list())
        assert.deepStrictEqual(models.data.map((m) => m.id), ["assistant", "echo"])
      }))

    it.effect("an LLM node is a model too", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "echo", messages: [{ role: "user", content: "ping" }] })
        )
        assert.strictEqual(completion.choices[0]!.message.content, "Echo: user: ping")
      }))
  })

  describe("SSE runs", () => {
    it.effect("plain fetch reads the events and the result", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const response = yield* post(`${url}/runs/upper`, JSON.stringify("hello"))
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
        const runId = response.headers.get("x-sluice-run-id")
        const blocks = yield* readSse(response)
        assert.deepStrictEqual(blocks.map((b) => b.event === "message" ? b.data._tag : b.event), [
          "StepStart",
          "StepEnd",
          "result"
        ])
        assert.deepStrictEqual(blocks.at(-1)!.data, { runId, output: "HELLO" })
      }))

    it.effect("a typed error ends the stream", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const blocks = yield* readSse(yield* post(`${url}/runs/failing`, "3"))
        const last = blocks.at(-1)!
        assert.strictEqual(last.event, "error")
        assert.deepInclude(last.data.error, { _tag: "TooBig", limit: 10, n: 3 })
        assert.strictEqual(blocks.at(-2)!.data._tag, "StepError")
      }))

    it.effect("an agent as a run: its events, then the final text", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const blocks = yield* readSse(yield* post(`${url}/runs/assistant`, JSON.stringify({ prompt: "Oslo?" })))
        const tags = blocks.filter((b) => b.event === "message").map((b) => b.data._tag)
        assert.include(tags, "ToolCall")
        assert.include(tags, "ToolResult")
        assert.strictEqual(blocks.at(-1)!.data.output, "It is 7 degrees in Oslo.")
      }))

    it.effect("bad input: a 400 with the schema issues; malformed JSON; too large; no token", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const bad = yield* post(`${url}/runs/failing`, JSON.stringify("three"))
        assert.strictEqual(bad.status, 400)
        const body = yield* Effect.promise(() => bad.json())
        assert.strictEqual(body.error.type, "invalid_request_error")
        assert.deepStrictEqual(body.error.issues, [{ path: [], message: "Expected number, actual \"three\"" }])
        const malformed = yield* post(`${url}/runs/upper`, "{\"oops\"")
        assert.strictEqual(malformed.status, 400)
        assert.strictEqual((yield* Effect.promise(() => malformed.json())).error.code, "invalid_json")
        const large = yield* post(`${url}/runs/upper`, JSON.stringify("x".repeat(5000)))
        assert.strictEqual(large.status, 413)
        assert.strictEqual((yield* Effect.promise(() => large.json())).error.code, "request_too_large")
        const anonymous = yield* post(`${url}/runs/upper`, "\"hi\"", { authorization: "" })
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.headers.get("www-authenticate"), "Bearer")
        const unknown = yield* post(`${url}/runs/nothing`, "\"hi\"")
        assert.strictEqual(unknown.status, 404)
      }))

    it.effect("a route at its limit answers 429 with retry-after; a disconnect interrupts the run", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const controller = new AbortController()
        const first = yield* Effect.promise(() =>
          fetch(`${url}/runs/hanging`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}` },
            body: "\"x\"",
            signal: controller.signal
          })
        )
        yield* Deferred.await(started)
        const second = yield* post(`${url}/runs/hanging`, "\"y\"")
        assert.strictEqual(second.status, 429)
        assert.strictEqual(second.headers.get("retry-after"), "1")
        assert.strictEqual((yield* Effect.promise(() => second.json())).error.type, "rate_limit_error")
        assert.strictEqual(first.status, 200)
        controller.abort()
        yield* Effect.promise(() => first.text().catch(() => ""))
        yield* Effect.sleep("20 millis").pipe(
          Effect.repeat({ until: () => finalized.includes("hanging"), times: 100 })
        )
        assert.deepStrictEqual(finalized, ["hanging"])
        // the slot is free again
        const upperAgain = yield* post(`${url}/runs/upper`, "\"ok\"")
        assert.strictEqual(upperAgain.status, 200)
      }))
  })

  describe("Proxy engine", () => {
    it.effect("an Llm node runs on a served agent through the proxy, server tools and all", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const remote = Proxy.layer({ url, route: "assistant", token: Redacted.make(TOKEN) }).pipe(
          Layer.provide(NodeHttpClient.layerUndici)
        )
        const events = yield* Node.stream(Llm.text({ name: "ask", prompt: (q: string) => q }), "Weather in Oslo?").pipe(
          Stream.runCollect,
          Effect.provide(remote)
        )
        const tokens = [...events].flatMap((event) => event._tag === "Token" ? [event.text] : [])
        const end = [...events].find((event) => event._tag === "StepEnd")
        assert.strictEqual(end?._tag === "StepEnd" ? end.output : undefined, "It is 7 degrees in Oslo.")
        assert.strictEqual(tokens.join(""), "It is 7 degrees in Oslo.")
      }))

    it.effect("a structured request through the proxy", () =>
      Effect.gen(function*() {
        const url = yield* baseUrl
        const remote = Proxy.layer({ url, route: "assistant", token: Redacted.make(TOKEN) }).pipe(
          Layer.provide(NodeHttpClient.layerUndici)
        )
        const person = yield* Node.run(
          Llm.object({
            name: "who",
            input: Schema.String,
            output: Schema.Struct({ name: Schema.String, age: Schema.Number }),
            prompt: (q) => q,
            guided: "engine"
          }),
          "Who?"
        ).pipe(Effect.provide(remote))
        assert.deepStrictEqual(person, { name: "Ada", age: 36 })
      }))
  })
})
