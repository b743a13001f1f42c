import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"

const post = (url: string, body: unknown) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) => client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUnsafeJson(body)))
  )

describe("ScriptedServer", () => {
  it.live("answers the n-th request with the n-th reply and records what it received", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        replies: [ScriptedServer.error(429, { retryAfter: 2 }), ScriptedServer.sse([{ n: 1 }])]
      })
      const first = yield* post(`${server.url}/v1/chat/completions`, { model: "m" })
      assert.strictEqual(first.status, 429)
      assert.strictEqual(first.headers["retry-after"], "2")
      const second = yield* post(`${server.url}/v1/chat/completions`, { model: "m", n: 2 })
      assert.strictEqual(yield* second.text, "data: {\"n\":1}\n\ndata: [DONE]\n\n")
      const third = yield* post(`${server.url}/x`, {})
      assert.strictEqual(third.status, 500)
      assert.include(yield* third.text, "no reply scripted for request 3")
      const requests = yield* server.requests
      assert.strictEqual(requests.length, 3)
      assert.deepStrictEqual(requests[1]!.body, { model: "m", n: 2 })
      assert.strictEqual(requests[1]!.method, "POST")
      assert.strictEqual(requests[1]!.path, "/v1/chat/completions")
      assert.strictEqual(requests[1]!.headers["content-type"], "application/json")
      assert.strictEqual(requests[1]!.outcome, "completed")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("splits the body at the chosen sizes, with a delay between chunks", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: { body: "abcdefghijklmnopqrstuvwxyz", chunkSizes: [1, 5], delay: "15 millis" }
      })
      const response = yield* post(server.url, {})
      const chunks = yield* response.stream.pipe(Stream.runCollect)
      const texts = Chunk.toReadonlyArray(chunks).map((c) => new TextDecoder().decode(c))
      assert.strictEqual(texts.join(""), "abcdefghijklmnopqrstuvwxyz")
      // A loaded machine may coalesce writes, never split them: every chunk ends on a boundary of the 1, 5, 1, 5… plan.
      const boundaries = new Set([1, 6, 7, 12, 13, 18, 19, 24, 25, 26])
      let offset = 0
      for (const text of texts) {
        offset += text.length
        assert.isTrue(boundaries.has(offset), `a chunk ends at ${offset}, not on a planned boundary`)
      }
      assert.isAbove(texts.length, 1, "the body arrives in several chunks")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("replays a transcript file, and answers 500 for a missing one", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        replies: [
          ScriptedServer.transcript("test/fixtures/transcripts/ollama.api-chat.docs-example.ndjson"),
          ScriptedServer.transcript("test/fixtures/transcripts/nope.sse")
        ]
      })
      const ok = yield* post(server.url, {})
      assert.strictEqual(ok.headers["content-type"], "application/x-ndjson")
      assert.include(yield* ok.text, "\"content\":\"The\"")
      const missing = yield* post(server.url, {})
      assert.strictEqual(missing.status, 500)
      assert.include(yield* missing.text, "nope.sse")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("drops the connection after the chosen number of bytes", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({
        reply: { body: "x".repeat(10_000), chunkSizes: 100, dropAfter: 250 }
      })
      const response = yield* post(server.url, {})
      const received: Array<number> = []
      const error = yield* response.stream.pipe(
        Stream.runForEach((c) => Effect.sync(() => received.push(c.length))),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ResponseError")
      assert.strictEqual(received.reduce((a, b) => a + b, 0), 250)
      assert.strictEqual((yield* server.requests)[0]!.outcome, "dropped")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("sees a client that disconnects from a hanging reply", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer.make({ reply: { body: ["first"], hang: true } })
      yield* Effect.scoped(
        Effect.flatMap(post(server.url, {}), (response) => response.stream.pipe(Stream.take(1), Stream.runDrain))
      )
      const gone = yield* server.awaitDisconnect.pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(gone.outcome, "disconnected")
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))

  it.live("closes when its scope closes", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(Effect.map(ScriptedServer.make({ reply: ScriptedServer.sse([]) }), (s) => s.url))
      const error = yield* Effect.flip(post(url, {}))
      assert.strictEqual(error._tag, "RequestError")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
