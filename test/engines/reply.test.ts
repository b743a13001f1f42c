/**
 * The HTTP engines read a reply's body whole and decode it at once (`generateText` and the lower-level reply of
 * src/internal/languageModel.ts) unless an idle timeout must watch the stream: over every recorded provider stream of
 * test/fixtures/real-streams and over broken ones, the same text, finish reason and usage as the body decoded chunk
 * by chunk, or the same error.
 */
import { type LanguageModel, Prompt } from "@effect/ai"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as Ollama from "../../src/engines/Ollama.js"
import * as OpenAiCompat from "../../src/engines/OpenAiCompat.js"
import * as Engine from "../../src/internal/languageModel.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"

const dir = "test/fixtures/real-streams"
const manifest: ReadonlyArray<{ readonly file: string; readonly dialect: "chat" | "ollama" }> = JSON.parse(
  fs.readFileSync(`${dir}/manifest.json`, "utf8")
)

const data = (event: unknown) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`
const chunk = (delta: unknown, finish: string | null = null) => ({
  id: "c1",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "m",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

/** Broken Chat Completions replies: each must fail the same way on both paths. */
const broken: ReadonlyArray<{ readonly name: string; readonly reply: ScriptedServer.Reply }> = [
  {
    name: "a chunk that is not JSON",
    reply: { body: data(chunk({ content: "Hel" })) + data("{not json") + data("[DONE]") }
  },
  {
    name: "an error sent inside the stream",
    reply: { body: data(chunk({ content: "Hel" })) + data({ error: { code: 429, message: "slow down" } }) }
  },
  { name: "a stream that ends before the model finished", reply: { body: data(chunk({ content: "Hel" })) } },
  { name: "a server error status", reply: { status: 500, body: "{\"error\":{\"message\":\"boom\"}}" } },
  {
    name: "a connection dropped mid-stream",
    reply: {
      body: data(chunk({ content: "Hello there" })) + data(chunk({ content: " and more" }, "stop")),
      dropAfter: 40
    }
  }
]

type Outcome = Either.Either<
  { readonly text: string; readonly finishReason: string; readonly usage: ReadonlyArray<number | undefined> },
  string
>

const outcome = <E extends { readonly _tag: string; readonly message: string }>(
  effect: Effect.Effect<Engine.Reply, E>
): Effect.Effect<Outcome> =>
  Effect.either(effect).pipe(
    Effect.map(Either.map(({ finishReason, text, usage }) => ({
      text,
      finishReason,
      usage: [usage.inputTokens, usage.outputTokens, usage.totalTokens]
    }))),
    Effect.map(Either.mapLeft((error) => `${error._tag}: ${error.message}`))
  )

/**
 * One call three ways: the body decoded chunk by chunk (an idle timeout makes `generateText` fold the stream), and
 * read whole by `generateText` and by the lower-level reply.
 */
const paths = (
  make: (
    idleTimeout: Duration.DurationInput | undefined
  ) => Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>
) =>
  Effect.gen(function*() {
    const streamed = yield* make("30 seconds")
    const whole = yield* make(undefined)
    return yield* Effect.all([
      outcome(streamed.generateText({ prompt: "Go" })),
      outcome(whole.generateText({ prompt: "Go" })),
      outcome(Engine.generateText(whole, { prompt: Prompt.make("Go"), format: Option.none(), sampling: undefined })),
      outcome(Engine.generateText(streamed, { prompt: Prompt.make("Go"), format: Option.none(), sampling: undefined }))
    ])
  })

describe("HTTP engines: a body read whole decodes as the stream does", () => {
  it.live("over every recorded provider stream", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: (request) => {
          const name = decodeURIComponent(request.path.split("/")[2]!)
          return {
            headers: { "content-type": name.endsWith(".ndjson") ? "application/x-ndjson" : "text/event-stream" },
            body: fs.readFileSync(`${dir}/${name}`, "utf8"),
            chunkSizes: 7
          }
        }
      })
      yield* Effect.forEach(manifest, (entry) =>
        Effect.gen(function*() {
          const base = `${server.url}/f/${encodeURIComponent(entry.file)}`
          const [streamed, ...others] = yield* paths((idleTimeout) =>
            entry.dialect === "chat"
              ? OpenAiCompat.make({ baseUrl: `${base}/v1`, model: "m", idleTimeout })
              : Ollama.make({ baseUrl: base, model: "m", idleTimeout })
          )
          for (const other of others) assert.deepStrictEqual(other, streamed, entry.file)
        }), { concurrency: 4 })
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)), 60_000)

  for (const { name, reply } of broken) {
    it.live(`${name}: the same error`, () =>
      Effect.gen(function*() {
        const server = yield* ScriptedServer.make({
          reply: { headers: { "content-type": "text/event-stream" }, ...reply }
        })
        const [streamed, ...others] = yield* paths((idleTimeout) =>
          OpenAiCompat.make({ baseUrl: `${server.url}/v1`, model: "m", idleTimeout })
        )
        assert.isTrue(Either.isLeft(streamed), `${name}: generateText fails`)
        for (const other of others) assert.deepStrictEqual(other, streamed)
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
  }
})
