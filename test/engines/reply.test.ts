/**
 * The lower-level reply of the HTTP engines (a call without tools, the body read whole and decoded at once, see
 * src/internal/languageModel.ts) against their `generateText`: over every recorded provider stream of
 * test/fixtures/real-streams and over broken ones, the same text, finish reason and usage, or the same error.
 */
import { type LanguageModel, Prompt } from "@effect/ai"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
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
  effect: Effect.Effect<
    {
      readonly text: string
      readonly finishReason: string
      readonly usage: {
        readonly inputTokens?: number | undefined
        readonly outputTokens?: number | undefined
        readonly totalTokens?: number | undefined
      }
    },
    E
  >
): Effect.Effect<Outcome> =>
  Effect.either(effect).pipe(
    Effect.map(Either.map(({ finishReason, text, usage }) => ({
      text,
      finishReason,
      usage: [usage.inputTokens, usage.outputTokens, usage.totalTokens]
    }))),
    Effect.map(Either.mapLeft((error) => `${error._tag}: ${error.message}`))
  )

/** Both paths over one engine service: `generateText` and the lower-level reply. */
const both = (service: Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient>) =>
  Effect.flatMap(service, (model) =>
    Effect.all([
      outcome(model.generateText({ prompt: "Go" })),
      outcome(Engine.generateText(model, { prompt: Prompt.make("Go"), format: Option.none(), sampling: undefined }))
    ]))

describe("HTTP engines: the lower-level reply answers as generateText", () => {
  it.live("over every recorded provider stream, with and without an idle timeout", () =>
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
        Effect.forEach([undefined, "30 seconds"] as const, (idleTimeout) =>
          Effect.gen(function*() {
            const base = `${server.url}/f/${encodeURIComponent(entry.file)}`
            const [service, reply] = yield* both(
              entry.dialect === "chat"
                ? OpenAiCompat.make({ baseUrl: `${base}/v1`, model: "m", idleTimeout })
                : Ollama.make({ baseUrl: base, model: "m", idleTimeout })
            )
            assert.deepStrictEqual(reply, service, `${entry.file} (idle timeout ${idleTimeout ?? "none"})`)
          })), { concurrency: 4 })
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)), 60_000)

  for (const { name, reply } of broken) {
    it.live(`${name}: the same error`, () =>
      Effect.gen(function*() {
        const server = yield* ScriptedServer.make({
          reply: { headers: { "content-type": "text/event-stream" }, ...reply }
        })
        const [service, direct] = yield* both(OpenAiCompat.make({ baseUrl: `${server.url}/v1`, model: "m" }))
        assert.isTrue(Either.isLeft(service), `${name}: generateText fails`)
        assert.deepStrictEqual(direct, service)
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
  }
})
