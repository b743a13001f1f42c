/**
 * The engine contract: one suite run over every engine. HTTP engines (OpenAiCompat, OpenAiResponses, Ollama) run
 * against a ScriptedServer replaying the recorded transcripts and scripted replies in their dialect; DryRun and
 * ScriptedEngine run in process, and so does LlamaCpp, on a tiny random-weight GGUF model written by the suite.
 *
 * Where an in-process engine differs: it answers what it generates (not scripted replies), so its text, calls and
 * values are checked for shape and validity rather than equality; the HTTP-only cases (status codes, dropped
 * connections, retry-after) do not apply, and its failing call is one the engine refuses (a tool result without its
 * call) rather than a scripted failure. Interrupting a generation is tested in test/engines/LlamaCpp.test.ts.
 */
import { AiError, LanguageModel, Prompt, Tool, Toolkit } from "@effect/ai"
import { OpenAiClient, OpenAiTool } from "@effect/ai-openai"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Layer, ManagedRuntime, Option, Schema, Stream } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as EngineError from "../../src/EngineError.js"
import * as DryRun from "../../src/engines/DryRun.js"
import * as LlamaCpp from "../../src/engines/LlamaCpp.js"
import * as Ollama from "../../src/engines/Ollama.js"
import * as OpenAiCompat from "../../src/engines/OpenAiCompat.js"
import * as OpenAiResponses from "../../src/engines/OpenAiResponses.js"
import * as Event from "../../src/Event.js"
import * as Llm from "../../src/Llm.js"
import * as Node from "../../src/Node.js"
import * as StructuredOutput from "../../src/StructuredOutput.js"
import * as ScriptedEngine from "../../src/testing/ScriptedEngine.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"
import * as TinyGguf from "../../src/testing/TinyGguf.js"
import * as Dialects from "./dialects.js"

// -----------------------------------------------------------------------------
// tools offered to every engine (the transcripts' tools)
// -----------------------------------------------------------------------------

const tools = [
  Tool.make("weather", { parameters: { location: Schema.String } }),
  Tool.make("read_file", { parameters: { path: Schema.String } }),
  Tool.make("webSearchTool", { parameters: { query: Schema.String } }),
  Tool.make("get_weather", { parameters: { city: Schema.String } }),
  Tool.make("parallel", { parameters: { tool_uses: Schema.Array(Schema.Unknown) } })
] as const
const handlers = {
  weather: () => Effect.void,
  read_file: () => Effect.void,
  webSearchTool: () => Effect.void,
  get_weather: () => Effect.void,
  parallel: () => Effect.void
}
const Kit = Toolkit.make(...tools)
const KitWithWebSearch = Toolkit.make(...tools, OpenAiTool.WebSearch({}))
const Handlers = Layer.merge(Kit.toLayer(handlers), KitWithWebSearch.toLayer(handlers as any))

const Person = Schema.Struct({
  name: Schema.String,
  age: Schema.Number,
  tags: Schema.Array(Schema.String),
  address: Schema.Struct({ city: Schema.String, zip: Schema.String })
})
const ada = { name: "Ada", age: 36, tags: ["math", "engines"], address: { city: "London", zip: "W1" } }
const TEXT = "Hello from the contract suite: streamed in small tokens, with unicode ✓ and\nnew lines."
const CALLS: ReadonlyArray<Dialects.ToolCall> = [
  { id: "call_a", name: "weather", params: { location: "San Francisco" } },
  { id: "call_b", name: "get_weather", params: { city: "Tokyo" } }
]
const SPLITS = [1, 2, 3, 5, 8, 13, 64, 512]

// -----------------------------------------------------------------------------
// harnesses
// -----------------------------------------------------------------------------

interface Under {
  readonly layer: Layer.Layer<LanguageModel.LanguageModel>
  readonly server?: ScriptedServer.ScriptedServer | undefined
  /** The structured-output requests seen by the engine, as a predicate over the schema channel. */
  readonly sentSchema: Effect.Effect<boolean>
}

type Scenario =
  | { readonly _tag: "reply"; readonly reply: Dialects.Reply }
  | {
    readonly _tag: "http"
    readonly reply: ScriptedServer.Reply | ((request: ScriptedServer.Request) => ScriptedServer.Reply)
  }

interface Harness {
  readonly name: string
  readonly http: boolean
  /** The wire format of an HTTP engine's server. */
  readonly dialect?: Dialects.Dialect | undefined
  /** Whether the engine answers what it is scripted to (DryRun answers what it generates). */
  readonly scripted: boolean
  readonly toolkit: typeof Kit | typeof KitWithWebSearch
  readonly transcripts: ReadonlyArray<Dialects.Transcript>
  readonly make: (scenario: Scenario) => Effect.Effect<Under, never, Scope.Scope>
  readonly replay: (transcript: Dialects.Transcript) => Effect.Effect<Under, never, Scope.Scope>
}

const Http = NodeHttpClient.layerUndici

const httpHarness = (
  name: string,
  dialect: Dialects.Dialect,
  engine: (
    url: string
  ) => Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient>,
  sentSchema: (body: any) => boolean,
  transcripts: ReadonlyArray<Dialects.Transcript>
): Harness => {
  const under = (reply: ScriptedServer.Options) =>
    Effect.map(ScriptedServer.make(reply), (server): Under => ({
      layer: engine(server.url).pipe(Layer.provide(Http)),
      server,
      sentSchema: Effect.map(server.requests, (requests) => requests.some((request) => sentSchema(request.body)))
    }))
  return {
    name,
    http: true,
    dialect,
    scripted: true,
    toolkit: dialect === "openai-responses" ? KitWithWebSearch : Kit,
    transcripts,
    make: (scenario) =>
      under({
        reply: scenario._tag === "http"
          ? scenario.reply
          : Dialects.serve(dialect, scenario.reply, { chunkSizes: SPLITS })
      }),
    replay: (transcript) =>
      under({
        reply: transcript.body === undefined
          ? ScriptedServer.transcript(`${Dialects.transcriptsDir}/${transcript.file}`, { chunkSizes: SPLITS })
          : { headers: { "content-type": "text/event-stream" }, body: transcript.body, chunkSizes: SPLITS }
      })
  }
}

const chatFiles = fs.readdirSync(Dialects.transcriptsDir)
  .filter((file) => /^openai-(chat|compat)\..*\.sse$/.test(file))
const ollamaFiles = fs.readdirSync(Dialects.transcriptsDir).filter((file) => /^ollama\..*\.ndjson$/.test(file))
const chatTranscripts = chatFiles.map(Dialects.chatTranscript)
const ollamaTranscripts = ollamaFiles.map(Dialects.ollamaTranscript)

const scriptedReply = (reply: Dialects.Reply): ScriptedEngine.Reply => ({
  ...(reply.text === undefined ? {} : { text: reply.text }),
  ...(reply.reasoning === undefined || reply.reasoning.length === 0 ? {} : { reasoning: reply.reasoning }),
  ...(reply.toolCalls === undefined || reply.toolCalls.length === 0 ? {} : { toolCalls: reply.toolCalls })
})

const local = (
  name: string,
  layer: (scenario: Scenario | undefined) => Layer.Layer<LanguageModel.LanguageModel>,
  scripted: boolean,
  transcripts: ReadonlyArray<Dialects.Transcript>
): Harness => ({
  name,
  http: false,
  scripted,
  toolkit: Kit,
  transcripts,
  make: (scenario) => Effect.succeed({ layer: layer(scenario), sentSchema: Effect.succeed(true) }),
  replay: (transcript) =>
    Effect.succeed({
      layer: layer({
        _tag: "reply",
        reply: {
          text: transcript.expected.text,
          reasoning: transcript.expected.reasoning,
          toolCalls: transcript.expected.toolCalls.map((call, i) => ({ id: `call_${i}`, ...call }))
        }
      }),
      sentSchema: Effect.succeed(true)
    })
})

// one tiny model for every LlamaCpp case: loaded on first use, released after the suite
const llamaDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-contract-"))
afterAll(() => {
  fs.rmSync(llamaDir, { recursive: true, force: true })
})
fs.writeFileSync(path.join(llamaDir, "tiny.gguf"), TinyGguf.make({ seed: 2 }))
const llamaRuntime = ManagedRuntime.make(
  LlamaCpp.layer({
    modelPath: path.join(llamaDir, "tiny.gguf"),
    contextSize: 2048,
    sequences: 2,
    threads: 1,
    chatWrapper: "chatML",
    // the random model never ends its free text on its own
    sampling: { maxTokens: 96 }
  })
)
afterAll(() => llamaRuntime.dispose())
const llamaCpp: Layer.Layer<LanguageModel.LanguageModel> = Layer.effectContext(
  Effect.orDie(Effect.map(llamaRuntime.runtimeEffect, (runtime) => runtime.context))
)

const harnesses: ReadonlyArray<Harness> = [
  httpHarness(
    "OpenAiCompat",
    "openai-chat",
    (url) => OpenAiCompat.layer({ baseUrl: `${url}/v1`, model: "scripted" }),
    (body) => body?.response_format?.type === "json_schema" && body.response_format.json_schema.schema !== undefined,
    chatTranscripts
  ),
  httpHarness(
    "OpenAiResponses",
    "openai-responses",
    (url) => OpenAiResponses.layer({ baseUrl: `${url}/v1`, model: "scripted" }),
    (body) => body?.text?.format?.type === "json_schema" && body.text.format.schema !== undefined,
    Dialects.responsesTranscripts()
  ),
  httpHarness(
    "Ollama",
    "ollama",
    (url) => Ollama.layer({ baseUrl: url, model: "scripted" }),
    (body) => typeof body?.format === "object" && body.format.type === "object",
    ollamaTranscripts
  ),
  local("DryRun", () => DryRun.layer({ seed: 3 }), false, []),
  local("LlamaCpp", () => llamaCpp, false, []),
  local(
    "ScriptedEngine",
    (scenario) =>
      ScriptedEngine.layer({
        reply: (request) =>
          Option.isSome(request.format)
            ? { object: ada }
            : scenario?._tag === "reply"
            ? scriptedReply(scenario.reply)
            : "",
        tokenSize: 3
      }),
    true,
    // the transcripts' expectations, scripted: the suite's checks do not depend on HTTP
    [...chatTranscripts, ...ollamaTranscripts].filter((t) => t.expected.refusal === undefined)
  )
]

// -----------------------------------------------------------------------------
// what a reply looks like to a caller
// -----------------------------------------------------------------------------

interface Seen {
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<{ readonly name: string; readonly params: unknown }>
  readonly finish: string | undefined
  readonly types: ReadonlyArray<string>
}

const see = (parts: ReadonlyArray<any>): Seen => ({
  text: parts.filter((p) => p.type === "text-delta").map((p) => p.delta).join(""),
  reasoning: parts.filter((p) => p.type === "reasoning-delta").map((p) => p.delta).join(""),
  toolCalls: parts.filter((p) => p.type === "tool-call" && !p.providerExecuted).map((p) => ({
    name: p.name,
    params: p.params
  })),
  finish: parts.find((p) => p.type === "finish")?.reason,
  types: parts.map((p) => p.type)
})

const streamed = (layer: Layer.Layer<LanguageModel.LanguageModel>, toolkit: Harness["toolkit"]) => {
  const parts: Array<unknown> = []
  return LanguageModel.streamText({ prompt: "Go", toolkit: toolkit as typeof Kit, disableToolCallResolution: true })
    .pipe(
      Stream.runForEach((part) => Effect.sync(() => parts.push(part))),
      Effect.either,
      Effect.map((result) => ({ result, seen: see(parts) })),
      Effect.provide(layer),
      Effect.provide(Handlers)
    )
}

/** Every text/reasoning/tool-params block is opened once, closed once, and `finish` is last and alone. */
const assertWellFormed = (types: ReadonlyArray<string>, parts?: ReadonlyArray<any>) => {
  const finishes = types.filter((t) => t === "finish").length
  assert.strictEqual(finishes, 1, `one finish part, got ${types.join(",")}`)
  assert.strictEqual(types[types.length - 1], "finish")
  if (parts !== undefined) {
    const open = new Set<string>()
    for (const part of parts) {
      const [kind, phase] = [part.type.replace(/-(start|delta|end)$/, ""), part.type.match(/(start|delta|end)$/)?.[1]]
      if (!["text", "reasoning", "tool-params"].includes(kind)) continue
      const key = `${kind}:${part.id}`
      if (phase === "start") {
        assert.isFalse(open.has(key), `${key} opened twice`)
        open.add(key)
      } else {
        assert.isTrue(open.has(key), `${part.type} ${part.id} outside its block`)
        if (phase === "end") open.delete(key)
      }
    }
    assert.strictEqual(open.size, 0, `blocks left open: ${[...open].join(",")}`)
  }
}

const engineError = (error: unknown): EngineError.EngineError => {
  assert.isTrue(AiError.isAiError(error), `a typed AiError, got ${String(error)}`)
  const found = EngineError.fromAiError(error as AiError.AiError)
  assert.isTrue(Option.isSome(found), `an EngineError inside ${String(error)}`)
  return Option.getOrThrow(found)
}

// -----------------------------------------------------------------------------
// the suite
// -----------------------------------------------------------------------------

for (const harness of harnesses) {
  describe(`Engine contract: ${harness.name}`, () => {
    for (const transcript of harness.transcripts) {
      it.live(`replays ${transcript.file}${transcript.outcome === "failure" ? " to a typed failure" : ""}`, () =>
        Effect.gen(function*() {
          const under = yield* harness.replay(transcript)
          const { result, seen } = yield* streamed(under.layer, harness.toolkit)
          const expected = transcript.expected
          if (transcript.outcome === "failure") {
            assert.isTrue(Either.isLeft(result), "the replay fails")
            if (Either.isLeft(result)) assert.isTrue(AiError.isAiError(result.left), String(result.left))
            assert.deepStrictEqual(seen.toolCalls, expected.toolCalls)
            return
          }
          if (Either.isLeft(result)) assert.fail(String(result.left))
          assert.strictEqual(seen.text, expected.text)
          assert.strictEqual(seen.reasoning, expected.reasoning)
          assert.deepStrictEqual(seen.toolCalls, expected.toolCalls)
          if (expected.finish !== undefined) assert.strictEqual(seen.finish, expected.finish)
          assertWellFormed(seen.types)
        }).pipe(Effect.scoped))
    }

    it.live("streamText and generateText give the same text, in well-formed parts", () =>
      Effect.gen(function*() {
        const under = yield* harness.make({ _tag: "reply", reply: { text: TEXT } })
        const parts = yield* LanguageModel.streamText({ prompt: "Say hello" }).pipe(
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray),
          Effect.provide(under.layer)
        )
        const seen = see(parts)
        assertWellFormed(seen.types, parts)
        const generated = yield* LanguageModel.generateText({ prompt: "Say hello" }).pipe(Effect.provide(under.layer))
        assert.strictEqual(generated.text, seen.text)
        assert.isAbove(seen.text.length, 0)
        if (harness.scripted) assert.strictEqual(seen.text, TEXT)
      }).pipe(Effect.scoped))

    it.live("an Llm.text node streams the engine's text as Token events", () =>
      Effect.gen(function*() {
        const under = yield* harness.make({ _tag: "reply", reply: { text: TEXT } })
        const node = Llm.text({ name: "say", prompt: (s: string) => s })
        const events = yield* Node.stream(node, "Say hello").pipe(Stream.runCollect, Effect.provide(under.layer))
        const tokens = Chunk.toReadonlyArray(events).filter(Event.is("Token"))
        assert.isAtLeast(tokens.length, 1)
        const output = yield* Node.run(node, "Say hello").pipe(Effect.provide(under.layer))
        assert.strictEqual(tokens.map((t) => t.text).join(""), output)
        if (harness.scripted) assert.strictEqual(output, TEXT)
      }).pipe(Effect.scoped))

    it.live("tool calls equal the expected calls (parallel calls, arguments in fragments)", () =>
      Effect.gen(function*() {
        const under = yield* harness.make({ _tag: "reply", reply: { toolCalls: CALLS } })
        const { result, seen } = yield* streamed(under.layer, harness.toolkit)
        if (Either.isLeft(result)) assert.fail(String(result.left))
        if (harness.scripted) {
          assert.deepStrictEqual(seen.toolCalls, CALLS.map(({ name, params }) => ({ name, params })))
        } else {
          assert.isAbove(seen.toolCalls.length, 0)
          for (const call of seen.toolCalls) {
            const tool = tools.find((t) => t.name === call.name)
            assert.isDefined(tool, `an offered tool: ${call.name}`)
            assert.isTrue(Schema.is(tool!.parametersSchema as Schema.Schema<unknown>)(call.params))
          }
        }
        assert.strictEqual(seen.finish, "tool-calls")
        const generated = yield* LanguageModel.generateText({
          prompt: "Go",
          toolkit: harness.toolkit as typeof Kit,
          disableToolCallResolution: true
        }).pipe(Effect.provide(under.layer), Effect.provide(Handlers))
        assert.deepStrictEqual(generated.toolCalls.map(({ name, params }) => ({ name, params })), seen.toolCalls)
      }).pipe(Effect.scoped))

    it.live("structured output travels through the schema channel and decodes", () =>
      Effect.gen(function*() {
        const json = JSON.stringify(ada)
        const under = yield* harness.make({ _tag: "reply", reply: { text: json } })
        const response = yield* LanguageModel.generateObject({ prompt: "Who?", schema: Person, objectName: "person" })
          .pipe(Effect.provide(under.layer))
        assert.isTrue(Schema.is(Person)(response.value))
        if (harness.scripted) assert.deepStrictEqual(response.value, ada)
        assert.isTrue(yield* under.sentSchema, "the request carried the JSON schema")
        const text = yield* LanguageModel.streamText({ prompt: "Who?" }).pipe(
          StructuredOutput.withFormat({ objectName: "person", schema: Person }),
          Stream.runCollect,
          Effect.map((parts) => see(Chunk.toReadonlyArray(parts)).text),
          Effect.provide(under.layer)
        )
        assert.isTrue(Schema.is(Person)(Schema.decodeUnknownSync(Schema.parseJson())(text)))
        const node = Llm.object({ name: "who", input: Schema.String, output: Person, prompt: (s) => s })
        assert.isTrue(Schema.is(Person)(yield* Node.run(node, "Who?").pipe(Effect.provide(under.layer))))
      }).pipe(Effect.scoped))

    if (harness.http) {
      const errors: ReadonlyArray<
        readonly [string, ScriptedServer.Reply, EngineError.Reason, boolean, (e: EngineError.EngineError) => void]
      > = [
        [
          "429 with retry-after",
          ScriptedServer.error(429, { retryAfter: 2, message: "Slow down" }),
          "RateLimited",
          true,
          (e) => {
            assert.deepStrictEqual(e.retryAfter, Duration.seconds(2))
            assert.strictEqual(e.description, "Slow down")
          }
        ],
        ["401", ScriptedServer.error(401, { message: "Invalid API key" }), "Unauthorized", false, (e) => {
          assert.strictEqual(e.status, 401)
        }],
        [
          "400 with the server's message",
          ScriptedServer.error(400, { message: "model 'x' not found" }),
          "BadRequest",
          false,
          (e) => {
            assert.strictEqual(e.description, "model 'x' not found")
          }
        ],
        ["500", ScriptedServer.error(500), "ServerError", true, (e) => {
          assert.strictEqual(e.status, 500)
        }]
      ]
      for (const [label, reply, reason, retryable, check] of errors) {
        it.live(`an HTTP ${label} maps to ${reason}`, () =>
          Effect.gen(function*() {
            const under = yield* harness.make({ _tag: "http", reply })
            for (
              const call of [
                LanguageModel.streamText({ prompt: "Go" }).pipe(Stream.runDrain),
                LanguageModel.generateText({ prompt: "Go" })
              ]
            ) {
              const error = yield* Effect.flip(Effect.provide(call, under.layer))
              const found = engineError(error)
              assert.strictEqual(found.reason, reason)
              assert.strictEqual(found.isRetryable, retryable)
              assert.strictEqual(EngineError.isRetryable(error), retryable)
              check(found)
            }
          }).pipe(Effect.scoped))
      }

      it.live("a connection dropped mid-stream is a retryable Transport error, after the parts before it", () =>
        Effect.gen(function*() {
          const under = yield* harness.make({
            _tag: "http",
            reply: (request) => ({
              ...Dialects.replyTo(harness.dialect!, { text: TEXT.repeat(20) }, request, { chunkSizes: 64 }),
              dropAfter: 4000
            })
          })
          const parts: Array<any> = []
          const error = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
            Stream.runForEach((part) => Effect.sync(() => parts.push(part))),
            Effect.flip,
            Effect.provide(under.layer)
          )
          const found = engineError(error)
          assert.strictEqual(found.reason, "Transport")
          assert.isTrue(found.isRetryable)
          assert.isAbove(see(parts).text.length, 0)
          assert.isTrue(TEXT.repeat(20).startsWith(see(parts).text))
          assert.strictEqual((yield* under.server!.requests)[0]!.outcome, "dropped")
        }).pipe(Effect.scoped))

      it.live("interrupting the consumer closes the HTTP request", () =>
        Effect.gen(function*() {
          const under = yield* harness.make({
            _tag: "http",
            reply: (request) => ({ ...Dialects.replyTo(harness.dialect!, { text: TEXT }, request), hang: true })
          })
          const first = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
            Stream.filter((part) => part.type === "text-delta"),
            Stream.take(1),
            Stream.runCollect,
            Effect.provide(under.layer)
          )
          assert.strictEqual(first.length, 1)
          const gone = yield* under.server!.awaitDisconnect.pipe(Effect.timeout("5 seconds"))
          assert.strictEqual(gone.outcome, "disconnected")
          // and an interrupted fiber, not only a finished one
          const fiber = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
            Stream.runDrain,
            Effect.provide(under.layer),
            Effect.fork
          )
          yield* Effect.sleep("100 millis")
          yield* Fiber.interrupt(fiber)
          const requests = yield* under.server!.requests
          yield* Effect.sleep("100 millis")
          assert.isTrue(
            (yield* under.server!.requests).slice(requests.length - 1).every((r) => r.outcome !== "open"),
            "every request closed"
          )
        }).pipe(Effect.scoped))

      it.live("EngineError.retrySchedule honours the server's retry-after", () =>
        Effect.gen(function*() {
          const ok = (request: ScriptedServer.Request) => Dialects.replyTo(harness.dialect!, { text: "ok" }, request)
          const under = yield* harness.make({
            _tag: "http",
            reply: (request) => request.index === 0 ? ScriptedServer.error(429, { retryAfter: 1 }) : ok(request)
          })
          const start = Date.now()
          const response = yield* LanguageModel.generateText({ prompt: "Go" }).pipe(
            Effect.retry(EngineError.retrySchedule({ base: "10 millis" })),
            Effect.provide(under.layer)
          )
          assert.strictEqual(response.text, "ok")
          assert.isAtLeast(Date.now() - start, 950)
          assert.strictEqual((yield* under.server!.requests).length, 2)
        }).pipe(Effect.scoped))
    } else {
      it.effect("a failing call is a typed AiError", () =>
        Effect.gen(function*() {
          if (harness.name === "LlamaCpp") {
            const orphan = Prompt.make([{
              role: "tool",
              content: [{
                type: "tool-result",
                id: "x",
                name: "weather",
                result: 1,
                isFailure: false,
                providerExecuted: false
              }]
            }])
            const refused = yield* LanguageModel.streamText({ prompt: orphan }).pipe(
              Stream.runDrain,
              Effect.flip,
              Effect.provide(llamaCpp)
            )
            assert.isTrue(AiError.isAiError(refused))
            assert.isTrue(Option.isNone(EngineError.fromAiError(refused)), "not an engine (HTTP) failure")
            return
          }
          const layer = harness.name === "DryRun"
            ? DryRun.layer({ failureRate: 1 })
            : ScriptedEngine.layer({
              failures: { 1: new AiError.UnknownError({ module: "test", method: "streamText", description: "boom" }) }
            })
          const flipped = yield* LanguageModel.streamText({ prompt: "Go" }).pipe(
            Stream.runDrain,
            Effect.flip,
            Effect.provide(layer)
          )
          assert.isTrue(AiError.isAiError(flipped))
          assert.isTrue(Option.isNone(EngineError.fromAiError(flipped)), "not an engine (HTTP) failure")
        }))
    }
  })
}

describe("Engine contract: the scripted Responses events are valid Responses API events", () => {
  it.effect("every scripted event decodes with @effect/ai-openai's schema", () =>
    Effect.sync(() => {
      const events = [
        ...Dialects.responsesEvents({ text: TEXT }),
        ...Dialects.responsesEvents({ toolCalls: CALLS })
      ]
      for (const event of events) {
        const decoded = Schema.decodeUnknownEither(OpenAiClient.ResponseStreamEvent)(event)
        assert.isTrue(Either.isRight(decoded), JSON.stringify(event).slice(0, 200))
      }
    }))
})
