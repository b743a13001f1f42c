/**
 * Llm.object: streamed partial fields (raw and validated), nested arrays, the repair loop, guided decoding for
 * engines that do or do not take the schema, tool-argument streaming in Llm.text, and one run through OpenAiCompat
 * against a recorded OpenAI transcript.
 */
import { LanguageModel, type Prompt, type Response } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Schema, Stream } from "effect"
import * as Chain from "../src/Chain.js"
import * as OpenAiCompat from "../src/engines/OpenAiCompat.js"
import * as Event from "../src/Event.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as StructuredOutput from "../src/StructuredOutput.js"
import { StructuredOutputError } from "../src/StructuredOutputError.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import * as ScriptedServer from "../src/testing/ScriptedServer.js"

const collect = <E, R>(events: Stream.Stream<Event.Event, E, R>) =>
  Effect.map(Stream.runCollect(events), (chunk) => Chunk.toArray(chunk))

const getPath = (value: unknown, path: string): unknown =>
  path === "" ? value : path.split(".").reduce<any>((node, key) => node?.[key], value)

/** Every path listed complete keeps the value it had when first listed, in every later event. */
const assertMonotonic = (partials: ReadonlyArray<Event.Of<"PartialFields">>) => {
  const seen = new Map<string, string>()
  for (const [i, { complete, value }] of partials.entries()) {
    for (const path of complete) if (!seen.has(path)) seen.set(path, JSON.stringify(getPath(value, path)))
    for (const [path, json] of seen) {
      assert.strictEqual(JSON.stringify(getPath(value, path)), json, `event ${i}: ${path} changed`)
    }
  }
  return seen
}

const Ticket = Schema.Struct({
  title: Schema.String,
  priority: Schema.Literal("low", "high"),
  estimate: Schema.Number.pipe(Schema.positive()),
  done: Schema.Boolean,
  tags: Schema.Array(Schema.String.pipe(Schema.minLength(2))),
  owner: Schema.optional(Schema.Struct({ name: Schema.String, email: Schema.String }))
})

const ticket = Llm.object({
  name: "ticket",
  input: Schema.String,
  output: Ticket,
  prompt: (s) => `File a ticket for: ${s}`,
  partial: "validated"
})

/** A document split at nasty places: inside escapes, numbers, literals, keys, between a key and its colon. */
const nastyChunks = [
  "```js",
  "on\n{\"ti",
  "tle\": \"Caf\\",
  "u00",
  "e9 \\\"bug\\",
  "\"\", \"priority\"",
  ": \"hi",
  "gh\", \"estimate\": 12",
  ".",
  "5e",
  "-1, \"done\": tr",
  "ue, \"tags\": [\"ui\", \"x\"",
  ", \"db\"], \"owner\": {\"name\": \"Ada\", \"em",
  "ail\": \"a@b.c\"}}\n``",
  "`"
]

describe("Llm.object partial fields", () => {
  it.effect("validated partials: only complete, valid fields, and a field shown never changes", () =>
    Effect.gen(function*() {
      const events: Array<Event.Event> = []
      const error = yield* Node.stream(ticket, "the café").pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event))),
        Effect.flip
      )
      const partials = events.filter(Event.is("PartialFields"))
      const seen = assertMonotonic(partials)
      assert.deepStrictEqual([...seen.keys()], [
        "title",
        "priority",
        "estimate",
        "done",
        "tags.0",
        "owner.name",
        "owner"
      ])
      assert.strictEqual(getPath(partials[0]!.value, "title"), "Café \"bug\"")
      for (const { value } of partials) {
        const tags = getPath(value, "tags") as ReadonlyArray<string> | undefined
        assert.isAtMost(tags?.length ?? 0, 1, "the invalid tag \"x\" and the tag after it are never shown")
      }
      assert.deepStrictEqual(partials.at(-1)!.value, {
        title: "Café \"bug\"",
        priority: "high",
        estimate: 1.25,
        done: true,
        tags: ["ui"],
        owner: { name: "Ada", email: "a@b.c" }
      })
      // "x" is shorter than 2 characters: the final decode fails
      assert.instanceOf(error, StructuredOutputError)
      assert.deepStrictEqual((error as StructuredOutputError).issues.map((issue) => issue.path), [["tags", 1]])
      assert.strictEqual(events.at(-1)?._tag, "StepError")
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ chunks: nastyChunks }] }))))

  it.effect("validated partials on a valid reply end with the whole value complete", () =>
    Effect.gen(function*() {
      const chunks = nastyChunks.map((chunk) => chunk.replace("\"x\"", "\"ux\""))
      const events = yield* collect(Node.stream(ticket, "the café")).pipe(
        Effect.provide(ScriptedEngine.layer({ replies: [{ chunks }] }))
      )
      const partials = events.filter(Event.is("PartialFields"))
      assertMonotonic(partials)
      const last = partials.at(-1)!
      assert.deepStrictEqual(last.complete, [""])
      const end = events.at(-1) as Event.Of<"StepEnd">
      assert.deepStrictEqual(last.value, { ...(end.output as object), estimate: 12.5e-1 })
      assert.deepStrictEqual((end.output as typeof Ticket.Type).tags, ["ui", "ux", "db"])
    }))

  it.effect("raw partials: the value as parsed, one event per delta that changed it; thinking as Reasoning", () =>
    Effect.gen(function*() {
      const node = Llm.object({ input: Schema.String, output: Ticket, prompt: (s) => s })
      const chunks = [
        "{\"title\": \"A",
        "",
        "B\"",
        "   ",
        ", \"priority\": \"low\"",
        ", \"estimate\": 1, \"done\": false, ",
        "\"tags\": []}"
      ]
      const events = yield* collect(Node.stream(node, "x")).pipe(
        Effect.provide(ScriptedEngine.layer({ replies: [{ chunks, reasoning: "thinking" }], tokenSize: 5 }))
      )
      assert.deepStrictEqual(events.filter(Event.is("Reasoning")).map((e) => e.text), ["think", "ing"])
      const partials = events.filter(Event.is("PartialFields"))
      assert.deepStrictEqual(partials.map((p) => p.value), [
        { title: "A" },
        { title: "AB" },
        { title: "AB", priority: "low" },
        { title: "AB", priority: "low", estimate: 1, done: false },
        { title: "AB", priority: "low", estimate: 1, done: false, tags: [] }
      ])
      assert.deepStrictEqual(partials.map((p) => p.complete), [[], ["title"], ["title", "priority"], [
        "title",
        "priority",
        "estimate",
        "done"
      ], [""]])
      assert.isUndefined(events.find(Event.is("Token")), "a structured reply does not stream Token events")
    }))

  it.effect("nested arrays of objects report each element as it completes", () =>
    Effect.gen(function*() {
      const Outline = Schema.Struct({
        sections: Schema.Array(Schema.Struct({
          title: Schema.String,
          points: Schema.Array(Schema.Struct({ text: Schema.String, weight: Schema.Number }))
        }))
      })
      const value = {
        sections: [
          { title: "A", points: [{ text: "a1", weight: 1 }, { text: "a2", weight: 2 }] },
          { title: "B", points: [{ text: "b1", weight: 3 }] }
        ]
      }
      const node = Llm.object({ input: Schema.String, output: Outline, prompt: (s) => s, partial: "validated" })
      const events = yield* collect(Node.stream(node, "outline")).pipe(
        Effect.provide(ScriptedEngine.layer({ replies: [{ object: value }], tokenSize: 3 }))
      )
      const partials = events.filter(Event.is("PartialFields"))
      assertMonotonic(partials)
      const firstSeen = (path: string) => partials.findIndex((p) => StructuredOutput.isCompleteAt(p.complete, path))
      const order = [
        "sections.0.points.0",
        "sections.0.points.1",
        "sections.0",
        "sections.1.points.0",
        "sections.1",
        ""
      ].map(firstSeen)
      assert.isTrue(order.every((index, i) => index >= 0 && (i === 0 || index >= order[i - 1]!)), `${order}`)
      const [point0, point1, section0, section1point0, , root] = order as [
        number,
        number,
        number,
        number,
        number,
        number
      ]
      assert.isTrue(point0 < point1 && section0 < section1point0 && section1point0 < root, `${order}`)
      const whenFirstDone = partials[firstSeen("sections.0")]!
      assert.deepStrictEqual(whenFirstDone.value, { sections: [value.sections[0]] })
      assert.notInclude(whenFirstDone.complete, "sections.0.points.1", "a complete element covers its parts")
    }))
})

describe("Llm.object repair", () => {
  const Sentiment = Schema.Struct({ label: Schema.Literal("positive", "negative"), score: Schema.Number })
  const classify = (repair: number) =>
    Llm.object({
      name: "classify",
      input: Schema.String,
      output: Sentiment,
      prompt: (s) => `Classify: ${s}`,
      repair
    })

  it.effect("bad JSON, then a schema mismatch, then a valid reply: the issues are fed back each time", () =>
    Effect.gen(function*() {
      const events = yield* collect(Node.stream(classify(2), "great"))
      const retries = events.filter(Event.is("Retry"))
      assert.deepStrictEqual(retries.map((r) => [r.attempt, r.error]), [[1, "StructuredOutputError"], [
        2,
        "StructuredOutputError"
      ]])
      assert.include(retries[0]!.message, "classify: InvalidJson (attempt 1)")
      const end = events.at(-1) as Event.Of<"StepEnd">
      assert.deepStrictEqual(end.output, { label: "positive", score: 0.9 })
      const requests = yield* ScriptedEngine.requests
      assert.lengthOf(requests, 3)
      assert.strictEqual(requests[0]!.text, "user: Classify: great")
      assert.strictEqual(
        requests[1]!.text,
        "user: Classify: great\nassistant: {\"label\": \"positive\", \"score\": \n" +
          "user: Your previous answer is not a complete, valid JSON value.\nIssues:\n" +
          "- the JSON value is cut short at offset 31\nAnswer again with only the corrected JSON value."
      )
      assert.include(requests[2]!.text, "assistant: {\"label\":\"maybe\",\"score\":0.5}")
      assert.include(
        requests[2]!.text,
        "Your previous answer does not match the required schema.\nIssues:\n" +
          "- at label: Expected \"positive\", actual \"maybe\"\n- at label: Expected \"negative\", actual \"maybe\""
      )
      assert.isTrue(requests.every((request) => Option.isSome(request.format)), "every attempt is guided")
      const usage = end.usage!
      assert.strictEqual(usage.inputTokens, requests.reduce((n, r) => n + Math.ceil(r.text.length / 4), 0))
    }).pipe(Effect.provide(ScriptedEngine.layer({
      replies: ["{\"label\": \"positive\", \"score\": ", { object: { label: "maybe", score: 0.5 } }, {
        object: { label: "positive", score: 0.9 }
      }]
    }))))

  it.effect("repair exhausted: a typed error with the raw text, the issues and the attempt", () =>
    Effect.gen(function*() {
      const events: Array<Event.Event> = []
      const error = yield* Node.stream(classify(1), "meh").pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event))),
        Effect.flip
      )
      assert.instanceOf(error, StructuredOutputError)
      const failure = error as StructuredOutputError
      assert.strictEqual(failure.reason, "SchemaMismatch")
      assert.strictEqual(failure.attempt, 2)
      assert.strictEqual(failure.text, "{\"label\":\"positive\"}")
      assert.deepStrictEqual(failure.issues, [{ path: ["score"], message: "is missing" }])
      assert.strictEqual(failure.message, "classify: SchemaMismatch (attempt 2) - at score: is missing")
      assert.lengthOf(yield* ScriptedEngine.requests, 2)
      assert.deepStrictEqual(events.filter(Event.is("Retry")).map((r) => r.attempt), [1])
      assert.strictEqual(events.at(-1)?._tag, "StepError")
    }).pipe(Effect.provide(ScriptedEngine.layer({
      replies: [{ object: { label: "neutral", score: 1 } }, { object: { label: "positive" } }]
    }))))

  it.effect("without repair the first failure is the error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Node.run(classify(0), "meh"))
      assert.strictEqual((error as StructuredOutputError).attempt, 1)
      assert.lengthOf(yield* ScriptedEngine.requests, 1)
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: ["no idea"] }))))
})

// =============================================================================
// guided decoding
// =============================================================================

const promptText = (prompt: Prompt.Prompt): string =>
  prompt.content.map((message) =>
    `${message.role}: ${
      typeof message.content === "string"
        ? message.content
        : message.content.map((part) => part.type === "text" ? part.text : "").join("")
    }`
  ).join("\n")

const textParts = (text: string): Array<Response.StreamPartEncoded> => [
  { type: "text-start", id: "t" },
  ...text.match(/.{1,5}/gs)!.map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id: "t", delta })),
  { type: "text-end", id: "t" },
  { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }
]

/** A `LanguageModel` that knows nothing of sluice: it never reads the requested format. */
const foreign = (
  reply: (prompt: string) => ReadonlyArray<Response.StreamPartEncoded>
): { readonly layer: Layer.Layer<LanguageModel.LanguageModel>; readonly prompts: Array<string> } => {
  const prompts: Array<string> = []
  const respond = (options: LanguageModel.ProviderOptions) => {
    const text = promptText(options.prompt)
    prompts.push(text)
    return reply(text)
  }
  const layer = Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (options) =>
        Effect.sync(() => {
          const parts = respond(options)
          const text = parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : []).join("")
          return [{ type: "text", text }, parts.at(-1)!] as Array<Response.PartEncoded>
        }),
      streamText: (options) => Stream.suspend(() => Stream.fromIterable(respond(options)))
    })
  )
  return { layer, prompts }
}

const Person = Schema.Struct({ name: Schema.String, age: Schema.Number })
const person = (guided?: "auto" | "engine" | "prompt") =>
  Llm.object({ name: "person", input: Schema.String, output: Person, prompt: (s) => `Who is ${s}?`, guided })
const instruction = StructuredOutput.instruction({ objectName: "person", schema: Person })

describe("Llm.object guided decoding", () => {
  it.effect("auto: an engine that ignores the format is asked again with the schema in the prompt, then always", () => {
    const engine = foreign((prompt) =>
      textParts(prompt.includes("JSON Schema") ? "{\"name\": \"Ada\", \"age\": 36}" : "Ada Lovelace, aged 36.")
    )
    return Effect.gen(function*() {
      const events = yield* collect(Node.stream(person(), "Ada"))
      assert.deepStrictEqual((events.at(-1) as Event.Of<"StepEnd">).output, { name: "Ada", age: 36 })
      assert.lengthOf(events.filter(Event.is("Retry")), 1)
      assert.deepStrictEqual(engine.prompts, ["user: Who is Ada?", `system: ${instruction}\nuser: Who is Ada?`])
      assert.deepStrictEqual(yield* Node.run(person(), "Bob"), { name: "Ada", age: 36 })
      assert.strictEqual(engine.prompts[2], `system: ${instruction}\nuser: Who is Bob?`, "no second probe")
      assert.lengthOf(engine.prompts, 3)
    }).pipe(Effect.provide(engine.layer))
  })

  it.effect("auto: an engine found unguided by Llm.object is not probed again by a Chain step (one cache)", () => {
    const engine = foreign((prompt) =>
      textParts(prompt.includes("JSON Schema") ? "{\"name\": \"Ada\", \"age\": 36}" : "Ada Lovelace, aged 36.")
    )
    const chain = Chain.make({
      name: "people",
      steps: [
        Chain.llm({ id: "person", input: Schema.Struct({ who: Schema.String }), output: Person, prompt: "{{who}}" })
      ]
    })
    return Effect.gen(function*() {
      assert.deepStrictEqual(yield* Node.run(person(), "Ada"), { name: "Ada", age: 36 })
      assert.lengthOf(engine.prompts, 2)
      const results = yield* Chain.run(chain, [{ who: "Bob" }])
      assert.strictEqual(results[0]!.status, "complete")
      assert.lengthOf(engine.prompts, 3, "no second probe")
      assert.include(engine.prompts[2]!, "JSON Schema")
    }).pipe(Effect.provide(engine.layer))
  })

  it.effect("auto: the prompt fallback does not use up the repairs", () => {
    const replies = ["prose", "{\"name\": \"Ada\"}", "{\"name\": \"Ada\", \"age\": 36}"]
    const engine = foreign(() => textParts(replies.shift()!))
    return Effect.gen(function*() {
      const node = Llm.object({ name: "person", input: Schema.String, output: Person, prompt: (s) => s, repair: 1 })
      assert.deepStrictEqual(yield* Node.run(node, "Ada"), { name: "Ada", age: 36 })
      assert.lengthOf(engine.prompts, 3)
      assert.include(engine.prompts[2]!, "- at age: is missing")
    }).pipe(Effect.provide(engine.layer))
  })

  it.effect("engine: the schema never goes in the prompt, so an engine that ignores it fails", () => {
    const engine = foreign(() => textParts("Ada Lovelace."))
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Node.run(person("engine"), "Ada"))
      assert.strictEqual((error as StructuredOutputError).reason, "InvalidJson")
      assert.deepStrictEqual(engine.prompts, ["user: Who is Ada?"])
    }).pipe(Effect.provide(engine.layer))
  })

  it.effect("prompt: the schema goes in the system prompt and the format channel stays unused", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Node.run(person("prompt"), "Ada"), { name: "Ada", age: 36 })
      const [request] = yield* ScriptedEngine.requests
      assert.isTrue(Option.isNone(request!.format))
      assert.strictEqual(request!.text, `system: ${instruction}\nuser: Who is Ada?`)
    }).pipe(
      Effect.provide(ScriptedEngine.layer({ replies: ["Sure:\n```json\n{\"name\": \"Ada\", \"age\": 36}\n```"] }))
    ))

  it.effect("auto on a sluice engine: the format goes through the channel and the prompt stays as written", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Node.run(person(), "Ada"), { name: "Ada", age: 36 })
      const [request] = yield* ScriptedEngine.requests
      assert.strictEqual(Option.getOrThrow(request!.format).objectName, "person")
      assert.strictEqual(request!.text, "user: Who is Ada?")
    }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [{ object: { name: "Ada", age: 36 } }] }))))
})

// =============================================================================
// tool arguments
// =============================================================================

describe("Llm.text tool-argument streaming", () => {
  it.effect("fragmented tool-call arguments become ToolArgProgress events with the partial arguments", () => {
    const fragments = ["{", "\"", "location", "\":", " \"San", " Francisco", "\", \"days\": 1", "0}"]
    const engine = foreign(() => [
      { type: "tool-params-start", id: "c1", name: "weather" },
      ...fragments.map((delta): Response.StreamPartEncoded => ({ type: "tool-params-delta", id: "c1", delta })),
      { type: "tool-params-end", id: "c1" },
      { type: "finish", reason: "tool-calls", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }
    ])
    return Effect.gen(function*() {
      const events = yield* collect(Node.stream(Llm.text({ prompt: (s: string) => s }), "weather?"))
      const progress = events.filter(Event.is("ToolArgProgress"))
      assert.deepStrictEqual(progress.map((e) => e.delta), fragments)
      assert.isTrue(progress.every((e) => e.id === "c1" && e.name === "weather"))
      assert.deepStrictEqual(progress.map((e) => e.params), [
        {},
        {},
        {},
        {},
        { location: "San" },
        { location: "San Francisco" },
        { location: "San Francisco", days: 1 },
        { location: "San Francisco", days: 10 }
      ])
    }).pipe(Effect.provide(engine.layer))
  })
})

// =============================================================================
// through OpenAiCompat and a recorded transcript
// =============================================================================

describe("Llm.object over HTTP", () => {
  it.scoped("OpenAiCompat replaying a recorded gpt-4o structured reply: partial fields and the response_format", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: ScriptedServer.transcript("test/fixtures/transcripts/openai-chat.gpt-4o.json-content.openai-node.sse", {
          chunkSizes: 97
        })
      })
      const Weather = Schema.Struct({ city: Schema.String, units: Schema.Literal("c", "f") })
      const node = Llm.object({
        name: "weather",
        input: Schema.String,
        output: Weather,
        prompt: (s) => `What's the weather like in ${s}?`,
        partial: "validated"
      })
      const engine = OpenAiCompat.layer({
        baseUrl: `${server.url}/v1`,
        model: "gpt-4o-2024-08-06",
        coalesceDeltas: false
      }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const events = yield* collect(Node.stream(node, "San Francisco")).pipe(Effect.provide(engine))
      const partials = events.filter(Event.is("PartialFields"))
      assertMonotonic(partials)
      assert.deepStrictEqual(partials.map((p) => [p.value, p.complete]), [
        [{ city: "San Francisco" }, ["city"]],
        [{ city: "San Francisco", units: "c" }, [""]]
      ])
      const end = events.at(-1) as Event.Of<"StepEnd">
      assert.deepStrictEqual(end.output, { city: "San Francisco", units: "c" })
      assert.deepStrictEqual(end.usage, { inputTokens: 17, outputTokens: 10, totalTokens: 27 })
      const [request] = yield* server.requests
      assert.deepStrictEqual((request!.body as Record<string, unknown>).response_format, {
        type: "json_schema",
        json_schema: { name: "weather", schema: StructuredOutput.jsonSchema(Weather), strict: true }
      })
    }))
})
