/**
 * Differential test: real recorded provider streams (test/fixtures/real-streams, sources and licenses in its
 * manifest.json and SOURCES.md) replayed from a local server at several byte splits through sluice's engines
 * (`OpenAiCompat` for Chat Completions SSE, `Ollama` for NDJSON) and through the official `openai` and `ollama`
 * clients (devDependencies, pinned: openai 6.49.0, ollama 0.6.4). Every field both produce must agree; each accepted
 * divergence is listed in `divergences` with its reason and asserted (a divergence that disappears, or a new one,
 * fails the test).
 */
import { LanguageModel, Tool, Toolkit } from "@effect/ai"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Option, Schema, Stream } from "effect"
import * as fs from "node:fs"
import { Ollama as OllamaClient } from "ollama"
import OpenAI from "openai"
import * as Ollama from "../../src/engines/Ollama.js"
import * as OpenAiCompat from "../../src/engines/OpenAiCompat.js"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"

const dir = "test/fixtures/real-streams"

interface Entry {
  readonly file: string
  readonly dialect: "chat" | "ollama"
  readonly repo: string
  readonly path: string
  readonly license: string
}

const manifest: ReadonlyArray<Entry> = JSON.parse(fs.readFileSync(`${dir}/manifest.json`, "utf8"))

/**
 * Error streams whose shapes are documented but of which no recording exists in public repositories; each names its
 * origin (see SOURCES.md, "Robustness-only byte strings").
 */
const errorStreams: ReadonlyArray<{ readonly name: string; readonly body: string; readonly message: string }> = [
  {
    // OpenRouter's documented mid-stream error: an `error` beside `choices`, finish_reason "error"
    name: "openrouter.midstream-error",
    body: ": OPENROUTER PROCESSING\n\n" +
      "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"openai/gpt-4o\"," +
      "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n" +
      "data: {\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"openai/gpt-4o\"," +
      "\"provider\":\"OpenAI\",\"error\":{\"code\":\"server_error\",\"message\":\"Provider disconnected unexpectedly\"}," +
      "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\ndata: [DONE]\n\n",
    message: "Provider disconnected unexpectedly"
  },
  {
    // OpenAI's in-stream error object (vercel/ai openai-chat-language-model.test.ts)
    name: "openai.in-stream-error",
    body: "data: {\"error\":{\"message\":\"The server had an error processing your request. Sorry about that! You " +
      "can retry your request, or contact us through our help center at help.openai.com if you keep seeing this " +
      "error.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\ndata: [DONE]\n\n",
    message: "The server had an error processing your request."
  },
  {
    // llama.cpp's server: an SSE field named `error`, then [DONE] (llama.cpp issue 16104)
    name: "llamacpp.error-field",
    body: "error: {\"code\":400,\"message\":\"the request exceeds the available context size, try increasing it\"," +
      "\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":4167,\"n_ctx\":4096}\n\ndata: [DONE]\n\n",
    message: "the request exceeds the available context size"
  },
  {
    // vLLM before 0.6: an unwrapped error object as a data event (block/goose PR 8031)
    name: "vllm.object-error",
    body: "data: {\"object\":\"error\",\"message\":\"The model `qwen` does not exist.\",\"type\":\"NotFoundError\"," +
      "\"param\":null,\"code\":404}\n\ndata: [DONE]\n\n",
    message: "The model `qwen` does not exist."
  }
]

/** What a reply amounts to, as both sides report it (choice 0). */
interface Outcome {
  readonly text: string
  readonly reasoning: string
  readonly refusal: string
  readonly toolCalls: ReadonlyArray<{ readonly id: string | undefined; readonly name: string; readonly args: unknown }>
  readonly finish: string | undefined
  readonly usage: readonly [number | undefined, number | undefined, number | undefined]
  readonly id: string | undefined
  readonly model: string | undefined
  readonly error: string | undefined
}

type Field = keyof Outcome

const refusalFinish = "by design: sluice ends a refusal with finish reason content-filter (`@effect/ai` has no " +
  "refusal part; the text is in the finish metadata); the API's finish_reason is \"stop\""

const toolCallsFinish = "by design: a reply that called tools finishes with tool-calls in sluice (the `@effect/ai` " +
  "contract an agent loop reads); Ollama's done_reason says \"stop\""

/**
 * The accepted divergences, by stream and field, each with its reason. "official wrong" marks the official client's
 * mistakes.
 */
const divergences: Record<string, Partial<Record<Field, string>>> = {
  "vercel.mistral.magistral.content-array-thinking.sse": {
    text: "official wrong: openai-node joins `delta.content` with `+=`, so Mistral's array of content parts becomes " +
      "\"[object Object]…\"; sluice streams the `text` parts as text",
    reasoning:
      "official wrong: the `thinking` parts of Mistral's array content are lost; sluice streams them as reasoning"
  },
  "vercel.compat.issue-13703.mistral-thinking.sse": {
    text: "official wrong: array content joined as \"[object Object]…\" (as above); sluice gives \"391\"",
    reasoning: "official wrong: the `thinking` parts are lost (as above)"
  },
  "vercel.mistral.tool-call-no-index.sse": {
    toolCalls: "official wrong: Mistral sends tool-call deltas without `index`; openai-node drops them, so the call " +
      "is silently lost; sluice takes the call's position in the array"
  },
  "vercel.mistral.zai-glm.incremental-tool-call.sse": {
    error: "official too strict: openai-node throws \"missing role for choice 0\" because this server never sends " +
      "`delta.role`; sluice needs no role"
  },
  "semantic-kernel.gpt-4.edited-refusal.sse": {
    error: "official too strict: \"missing role for choice 0\" (the recording has no `delta.role`); sluice reads the " +
      "refusal"
  },
  "vercel.compat.claude-haiku.fallback-tool-call-index1.sse": {
    error: "official wrong: a tool call whose `index` starts at 1 (Anthropic's OpenAI-compatible API) crashes " +
      "openai-node's accumulator (a TypeError reading the missing call 0); sluice assembles it"
  },
  "openai-python.gpt-4o.refusal.sse": { finish: refusalFinish },
  "openai-python.gpt-4o.refusal-logprobs.sse": { finish: refusalFinish },
  "openai-node.gpt-4o.stream-emits-refusal-logprobs-events-1.sse": { finish: refusalFinish },
  "semantic-kernel.ollama.llama3.2.chat-tool-in-done-line.ndjson": { finish: toolCallsFinish },
  "semantic-kernel.ollama.llama3.2.chat-5-tools-in-done-line.ndjson": { finish: toolCallsFinish },
  "llamacpp.error-field": {
    error: "official wrong: openai-node ignores the SSE field `error` that llama.cpp's server sends and fails with " +
      "\"request ended without sending any chunks\", losing the server's message; sluice fails with it (BadRequest)"
  },
  "vllm.object-error": {
    error: "official wrong: an unwrapped `{\"object\":\"error\"}` event crashes openai-node (\"chunk.choices is not " +
      "iterable\"), losing the server's message; sluice fails with it"
  }
}

const splits: ReadonlyArray<readonly [string, number | ReadonlyArray<number> | undefined]> = [
  ["whole", undefined],
  ["31", 31],
  ["mixed", [1, 7, 64, 3, 250, 2, 4096]]
]

const parseArgs = (args: unknown): unknown => {
  if (typeof args !== "string") return args
  try {
    return JSON.parse(args)
  } catch {
    return args
  }
}

const FINISH: Record<string, string> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool-calls",
  function_call: "tool-calls",
  content_filter: "content-filter",
  error: "error"
}

/** An error message without the split named in the URL (the same failure at every split). */
const withoutSplit = (message: string): string => message.replace(/\/f\/([^/\s]+)\/[^/\s]+\//g, "/f/$1/")

const empty: Outcome = {
  text: "",
  reasoning: "",
  refusal: "",
  toolCalls: [],
  finish: undefined,
  usage: [undefined, undefined, undefined],
  id: undefined,
  model: undefined,
  error: undefined
}

// -----------------------------------------------------------------------------
// sluice
// -----------------------------------------------------------------------------

/** Tools named as in the stream's bytes, so that the engine accepts the calls the recording makes. */
const toolkitFor = (body: string) => {
  const names = new Set<string>()
  for (const match of body.matchAll(/"name"\s*:\s*"([A-Za-z0-9_.-]+)"/g)) names.add(match[1]!)
  return Toolkit.make(
    ...[...names].map((name) => Tool.make(name, { parameters: { _: Schema.optional(Schema.Unknown) } }))
  )
}

const sluice = (
  service: LanguageModel.Service,
  toolkit: Toolkit.Toolkit<any>
): Effect.Effect<Outcome> =>
  LanguageModel.streamText({ prompt: "x", toolkit, disableToolCallResolution: true }).pipe(
    Stream.runCollect,
    Effect.map((chunk) => {
      const ps = Chunk.toReadonlyArray(chunk) as ReadonlyArray<any>
      const calls = new Map<string, { id: string; name: string; args: string }>()
      let out: Outcome = { ...empty }
      for (const p of ps) {
        switch (p.type) {
          case "text-delta":
            out = { ...out, text: out.text + p.delta }
            break
          case "reasoning-delta":
            out = { ...out, reasoning: out.reasoning + p.delta }
            break
          case "tool-params-start":
            calls.set(p.id, { id: p.id, name: p.name, args: "" })
            break
          case "tool-params-delta":
            calls.get(p.id)!.args += p.delta
            break
          case "response-metadata":
            out = { ...out, id: Option.getOrUndefined(p.id), model: Option.getOrUndefined(p.modelId) }
            break
          case "finish":
            out = {
              ...out,
              finish: p.reason,
              usage: [p.usage.inputTokens, p.usage.outputTokens, p.usage.totalTokens],
              refusal: p.metadata?.openaiCompat?.refusal ?? ""
            }
        }
      }
      return { ...out, toolCalls: [...calls.values()].map((c) => ({ ...c, args: parseArgs(c.args) })) }
    }),
    Effect.catchAll((error) => Effect.succeed({ ...empty, error: withoutSplit(error.message) })),
    Effect.provideService(LanguageModel.LanguageModel, service),
    Effect.provide(toolkit.toLayer(Object.fromEntries(Object.keys(toolkit.tools).map((n) => [n, () => Effect.void]))))
  ) as Effect.Effect<Outcome>

// -----------------------------------------------------------------------------
// the official clients
// -----------------------------------------------------------------------------

const openai = (baseURL: string): Effect.Effect<Outcome> =>
  Effect.promise(async () => {
    const client = new OpenAI({ baseURL, apiKey: "sk-test", maxRetries: 0 })
    let reasoning = ""
    try {
      const stream = client.chat.completions.stream({ model: "m", messages: [{ role: "user", content: "x" }] })
      stream.on("chunk", (chunk) => {
        for (const choice of chunk.choices ?? []) {
          const delta = choice.delta as any
          const r = delta?.reasoning_content ?? delta?.reasoning
          if (choice.index === 0 && typeof r === "string") reasoning += r
        }
      })
      const final = await stream.finalChatCompletion()
      const choice = final.choices[0]
      const message = choice?.message
      return {
        text: typeof message?.content === "string" ? message.content : "",
        reasoning,
        refusal: message?.refusal ?? "",
        toolCalls: (message?.tool_calls ?? []).map((call: any) => ({
          id: call.id,
          name: call.function.name,
          args: parseArgs(call.function.arguments)
        })),
        finish: choice?.finish_reason == null ? undefined : FINISH[choice.finish_reason] ?? "other",
        usage: [final.usage?.prompt_tokens, final.usage?.completion_tokens, final.usage?.total_tokens],
        id: final.id,
        model: final.model,
        error: undefined
      } satisfies Outcome
    } catch (error) {
      return { ...empty, reasoning, error: withoutSplit(error instanceof Error ? error.message : String(error)) }
    }
  })

const ollama = (host: string, generate: boolean): Effect.Effect<Outcome> =>
  Effect.promise(async () => {
    const client = new OllamaClient({ host })
    let out: Outcome = { ...empty }
    const toolCalls: Array<{ id: string | undefined; name: string; args: unknown }> = []
    try {
      const stream = generate
        ? await client.generate({ model: "m", prompt: "x", stream: true })
        : await client.chat({ model: "m", messages: [{ role: "user", content: "x" }], stream: true })
      for await (const part of stream as AsyncIterable<any>) {
        const message = generate ? part : part.message
        const text = generate ? part.response : message?.content
        out = {
          ...out,
          text: out.text + (text ?? ""),
          reasoning: out.reasoning + (message?.thinking ?? ""),
          model: out.model ?? part.model
        }
        for (const call of message?.tool_calls ?? []) {
          toolCalls.push({ id: call.id, name: call.function.name, args: parseArgs(call.function.arguments ?? {}) })
        }
        if (part.done) {
          const input = part.prompt_eval_count
          const output = part.eval_count
          out = {
            ...out,
            finish: part.done_reason ?? "stop",
            usage: [
              input,
              output,
              input === undefined && output === undefined ? undefined : (input ?? 0) + (output ?? 0)
            ]
          }
        }
      }
      return { ...out, toolCalls }
    } catch (error) {
      return { ...out, toolCalls, error: withoutSplit(error instanceof Error ? error.message : String(error)) }
    }
  })

// -----------------------------------------------------------------------------
// comparison
// -----------------------------------------------------------------------------

const comparable = (outcome: Outcome, ids: boolean): Record<Field, unknown> => ({
  ...outcome,
  // the official clients report the message their library throws; both sides must fail, and sluice keep the
  // server's message (checked separately)
  error: outcome.error === undefined ? undefined : "failed",
  toolCalls: outcome.toolCalls.map((c) => ({ ...c, id: ids ? c.id : undefined }))
})

/**
 * The fields that differ. When either side failed, only the failure is compared: both must fail, each keeping the
 * server's message when the stream sent one (`message`).
 */
const differing = (a: Outcome, b: Outcome, ids: boolean, message?: string | undefined): Array<Field> => {
  if (a.error !== undefined || b.error !== undefined) {
    const kept = (error: string | undefined) =>
      error !== undefined && (message === undefined || error.includes(message))
    return kept(a.error) && kept(b.error) ? [] : ["error"]
  }
  const x = comparable(a, ids)
  const y = comparable(b, ids)
  return (Object.keys(x) as Array<Field>).filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]))
}

const checkAgainst = (name: string, mine: Outcome, theirs: Outcome, ids: boolean, message?: string | undefined) => {
  if (message !== undefined) assert.include(mine.error, message, `${name}: sluice keeps the server's message`)
  const found = differing(mine, theirs, ids, message).sort()
  const accepted = Object.keys(divergences[name] ?? {}).sort()
  const detail = found.map((f) => `${f}: sluice ${JSON.stringify(mine[f])} / official ${JSON.stringify(theirs[f])}`)
  assert.deepStrictEqual(found, accepted, `${name}\n${detail.join("\n")}`)
}

describe("differential: recorded provider streams, sluice against the official clients", () => {
  it.live(
    "every recorded stream decodes as the official clients decode it, at every byte split",
    () =>
      Effect.gen(function*() {
        const bodies = new Map<string, string>()
        for (const entry of manifest) bodies.set(entry.file, fs.readFileSync(`${dir}/${entry.file}`, "utf8"))
        for (const stream of errorStreams) bodies.set(stream.name, stream.body)
        const server = yield* ScriptedServer.make({
          reply: (request) => {
            const [, , name, split] = request.path.split("/")
            const sizes = splits.find(([label]) => label === split)?.[1]
            const body = bodies.get(decodeURIComponent(name!))!
            const ndjson = name!.endsWith(".ndjson")
            return {
              headers: { "content-type": ndjson ? "application/x-ndjson" : "text/event-stream" },
              body,
              ...(sizes === undefined ? {} : { chunkSizes: sizes })
            }
          }
        })
        const cases = [
          ...manifest.map((entry) => ({
            name: entry.file,
            dialect: entry.dialect,
            message: entry.file === "ollama-docs.gemma4.midstream-error.ndjson"
              ? "an error was encountered while running the model"
              : undefined
          })),
          ...errorStreams.map((stream) => ({ name: stream.name, dialect: "chat" as const, message: stream.message }))
        ]
        yield* Effect.forEach(cases, ({ dialect, message, name }) =>
          Effect.gen(function*() {
            const body = bodies.get(name)!
            const toolkit = toolkitFor(body)
            const generate = dialect === "ollama" && !body.includes("\"message\"")
            const results = yield* Effect.forEach(splits, ([split]) => {
              const base = `${server.url}/f/${encodeURIComponent(name)}/${split}`
              return dialect === "chat"
                ? Effect.zip(
                  Effect.flatMap(
                    OpenAiCompat.make({ baseUrl: `${base}/v1`, model: "m", invalidToolCalls: "pass" }),
                    (service) => sluice(service, toolkit)
                  ),
                  openai(`${base}/v1`)
                )
                : Effect.zip(
                  Effect.flatMap(Ollama.make({ baseUrl: base, model: "m" }), (service) => sluice(service, toolkit)),
                  ollama(base, generate)
                )
            }, { concurrency: 3 })
            const [mine, theirs] = results[0]!
            for (const [i, [m, t]] of results.entries()) {
              assert.deepStrictEqual(m, mine, `${name}: sluice at split ${splits[i]![0]}`)
              assert.deepStrictEqual(t, theirs, `${name}: official client at split ${splits[i]![0]}`)
            }
            checkAgainst(name, mine!, theirs!, dialect === "chat", message)
          }), { concurrency: 2 })
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)),
    60_000
  )
})
