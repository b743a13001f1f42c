/**
 * The `dry-run` engine: a `LanguageModel` that needs no model and no network.
 *
 * - Text requests get deterministic text: a stable function of the prompt and the seed.
 * - Structured requests (`generateObject`, or a format set with `StructuredOutput.withFormat`) get a value of the
 *   requested `Schema` that looks like data (see {@link generate}): always valid for the schema, deterministic per
 *   prompt and seed.
 * - Requests with tools call one tool (chosen from the prompt), with parameters generated from its schema; once the
 *   prompt holds tool results, the engine answers with text.
 * - `latency` delays each call, `tokensPerSecond` paces streamed tokens, `failureRate` makes a deterministic share of
 *   calls fail with a typed `AiError` (all on Effect's `Clock`, so `TestClock` drives them in tests).
 *
 * It is sluice's embedded default engine: the demo runs on it, and a real engine is one Layer away.
 *
 * @since 0.1.0
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Tool from "@effect/ai/Tool"
import * as Arbitrary from "effect/Arbitrary"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Gen, State } from "../internal/dryRun/gen.js"
import * as Value from "../internal/dryRun/value.js"
import * as Engine from "../internal/languageModel.js"
import type { replyParts } from "../internal/prompt.js"
import {
  chunkText,
  hash,
  lastRole,
  lastUserText,
  prng,
  promptText,
  replyContent,
  streamReply
} from "../internal/prompt.js"
import * as StructuredOutput from "../StructuredOutput.js"

/**
 * Options of the dry-run engine.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Changes every generated text and value. Default 0. */
  readonly seed?: number | undefined
  /** Delay before each reply. Default none. */
  readonly latency?: Duration.DurationInput | undefined
  /** Pace of streamed tokens; unlimited when omitted. */
  readonly tokensPerSecond?: number | undefined
  /** Share of calls, in [0, 1], that fail with an `AiError`. Default 0. */
  readonly failureRate?: number | undefined
  /** Number of words in text replies. Default 24. */
  readonly words?: number | undefined
  /** Characters per streamed token. Default 4. */
  readonly tokenSize?: number | undefined
}

const WORDS = (
  "the a of to and in is for on with as by stream pipeline token model data value step graph state event run " +
  "result input output schema engine batch item field chunk retry layer effect typed fast small clear safe " +
  "quiet river sluice gate flow water channel lock level current steady bright"
).split(" ")

/**
 * Builds the dry-run `LanguageModel` service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * const service = DryRun.make({ seed: 7 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options | undefined): Effect.Effect<LanguageModel.Service> =>
  Effect.suspend(() => {
    const seed = options?.seed ?? 0
    const failureRate = options?.failureRate ?? 0
    const latency = options?.latency === undefined ? undefined : Duration.decode(options.latency)
    const tokenDelay = options?.tokensPerSecond ? Duration.millis(1000 / options.tokensPerSecond) : undefined
    const tokenSize = options?.tokenSize ?? 4
    let calls = 0

    /** The failure of call number `call` when it is one of the simulated ones. */
    const failure = (method: string, call: number, key: number): AiError.AiError | undefined =>
      failureRate > 0 && prng(hash(String(call), key))() < failureRate
        ? new AiError.UnknownError({
          module: "DryRun",
          method,
          description: `simulated failure (failureRate ${failureRate}, call ${call + 1})`
        })
        : undefined
    const words = options?.words ?? 24

    const reply = (method: string, request: LanguageModel.ProviderOptions) =>
      Effect.suspend(() => {
        const call = calls++
        const text = promptText(request.prompt)
        const key = hash(text, seed)
        const delay = latency === undefined ? Effect.void : Effect.sleep(latency)
        const failed = failure(method, call, key)
        if (failed !== undefined) return Effect.zipRight(delay, Effect.fail(failed))
        return Effect.zipWith(
          delay,
          StructuredOutput.requested(request),
          (_, format) => compose(request, format, text, key, words, tokenSize)
        )
      })

    // the lower-level contract (a call without tools): answered at once without latency
    const direct = (call: Engine.Call): Effect.Effect<Engine.Reply, AiError.AiError> => {
      const n = calls++
      const text = promptText(call.prompt)
      const key = hash(text, seed)
      const failed = failure("generateText", n, key)
      const answer = failed !== undefined ? Exit.fail(failed) : Exit.succeed(plain(call, text, key, words))
      return latency === undefined ? answer : Effect.zipRight(Effect.sleep(latency), answer)
    }

    return Engine.make({
      generateText: (request) => Effect.map(reply("generateText", request), replyContent),
      streamText: (request) =>
        Stream.unwrap(Effect.map(reply("streamText", request), (reply) => streamReply(reply, tokenDelay)))
    }, direct)
  })

/**
 * The dry-run engine as a `LanguageModel` Layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as DryRun from "sluice/engines/DryRun"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 *
 * const echo = Llm.text({ prompt: (s: string) => s })
 * const program = Node.run(echo, "hello").pipe(Effect.provide(DryRun.layer({ latency: "20 millis" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options | undefined): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * Generates a value of a schema, deterministically for a given seed: the value the dry-run engine answers a
 * structured request with. Values look like data and are always valid for the schema:
 *
 * - literals, enums, bounds (`between`, `positive`, `int`, `multipleOf`), lengths, item counts, simple patterns and
 *   formats (email, url, date, date-time, uuid) are generated to fit; the `examples` and `default` annotations are
 *   used as they are; every other filter is checked;
 * - strings and numbers follow the field's name, description or title: a `brand` gets a brand name, an `email` an
 *   address, a `price_eur` a positive price with 2 decimals, a `confidence` a number in [0, 1], a count a small
 *   integer, a `summary` a sentence;
 * - a `Schema.Unknown` annotated with a JSON Schema (an OpenAI-compatible request's `response_format`) gets a value
 *   of that JSON Schema.
 *
 * Parts beyond these generators (symbols, template literals, declarations other than dates and classes) come from
 * Effect's `Arbitrary`; such a value is checked to survive JSON (encoded, stringified, parsed and decoded), other
 * seeds are tried otherwise. The generator is compiled once per schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * const value = DryRun.generate(Schema.Struct({ name: Schema.String, age: Schema.Number }), 42)
 * // { name: "Maria Rossi", age: 37 }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = <A, I, R>(schema: Schema.Schema<A, I, R>, seed: number): A => {
  const state = { random: prng(seed), tainted: false }
  const value = generateValue(Value.compile(schema.ast), state)
  if (Option.isSome(value) && (!state.tainted || checks(schema).survivesJson(value.value))) return value.value as A
  return arbitraryValue(schema, seed)
}

const generateValue = Option.liftThrowable((gen: Gen, state: State) => gen(state, 0))

interface Checks {
  readonly arbitrary: FastCheck.Arbitrary<unknown>
  readonly survivesJson: (value: unknown) => boolean
}

const checked = new WeakMap<object, Checks>()

const checks = <A, I, R>(schema: Schema.Schema<A, I, R>): Checks => {
  let cached = checked.get(schema.ast)
  if (cached === undefined) {
    const s = schema as unknown as Schema.Schema<unknown, unknown>
    let arbitrary: FastCheck.Arbitrary<unknown> | undefined
    cached = {
      get arbitrary() {
        return arbitrary ??= Arbitrary.make(s)
      },
      survivesJson: (value) => {
        const encoded = Schema.encodeEither(s)(value)
        if (encoded._tag === "Left") return false
        const json = Option.getOrUndefined(Option.liftThrowable(JSON.stringify)(encoded.right))
        return json !== undefined && Schema.decodeUnknownEither(s)(JSON.parse(json))._tag === "Right"
      }
    }
    checked.set(schema.ast, cached)
  }
  return cached
}

// The values of Effect's `Arbitrary`, seed after seed until one survives JSON.
const arbitraryValue = <A, I, R>(schema: Schema.Schema<A, I, R>, seed: number): A => {
  const { arbitrary, survivesJson } = checks(schema)
  let first: unknown
  for (let attempt = 0; attempt < 32; attempt++) {
    const value = FastCheck.sample(arbitrary, { seed: (seed + attempt) | 0, numRuns: 1 })[0]
    if (survivesJson(value)) return value as A
    if (attempt === 0) first = value
  }
  return first as A
}

// =============================================================================
// internal
// =============================================================================

type Reply = Parameters<typeof replyParts>[0]

const compose = (
  request: LanguageModel.ProviderOptions,
  format: Option.Option<StructuredOutput.Format>,
  text: string,
  key: number,
  words: number,
  tokenSize: number
): Reply => {
  const inputTokens = Math.ceil(text.length / 4)
  const tools = Option.isSome(format)
    ? []
    : request.tools.filter((tool) => "parametersSchema" in tool) as ReadonlyArray<Tool.Any>
  if (tools.length > 0 && request.toolChoice !== "none" && lastRole(request.prompt) === "user") {
    const tool = tools[key % tools.length]!
    const params = encodedValue(tool.parametersSchema, key)
    const id = `call_${key.toString(36)}`
    return {
      toolCalls: [{ id, name: tool.name, params }],
      finishReason: "tool-calls",
      usage: { inputTokens, outputTokens: tokens(JSON.stringify(params)) }
    }
  }
  const reply = replyText(format, request.prompt, key, words)
  return {
    text: chunkText(reply, tokenSize),
    finishReason: "stop",
    usage: { inputTokens, outputTokens: tokens(reply) }
  }
}

/** {@link compose}'s reply to a call without tools, as one text. */
const plain = (call: Engine.Call, text: string, key: number, words: number): Engine.Reply => {
  const inputTokens = Math.ceil(text.length / 4)
  const reply = replyText(call.format, call.prompt, key, words)
  const outputTokens = tokens(reply)
  return {
    text: reply,
    finishReason: "stop",
    usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
  }
}

/** The text of a reply without tool calls: the JSON of a value of the requested schema, else a sentence. */
const replyText = (
  format: Option.Option<StructuredOutput.Format>,
  prompt: Prompt.Prompt,
  key: number,
  words: number
): string =>
  Option.isSome(format)
    ? JSON.stringify(encodedValue(format.value.schema, key))
    : sentence(lastUserText(prompt), key, words)

/** A generated value of a schema, encoded: what a structured reply or a tool call carries. */
const encodedValue = (schema: Schema.Schema.Any, key: number): unknown => {
  const s = schema as Schema.Schema<unknown, unknown>
  return Schema.encodeSync(s)(generate(s, key))
}

const sentence = (prompt: string, key: number, count: number): string => {
  const random = prng(key)
  const words: Array<string> = []
  for (let i = 0; i < count; i++) words.push(WORDS[Math.floor(random() * WORDS.length)]!)
  const subject = prompt.trim().split(/\s+/).slice(0, 6).join(" ")
  const body = words.join(" ")
  return `[dry-run] ${subject.length > 0 ? `${subject}… ` : ""}${body.charAt(0).toUpperCase()}${body.slice(1)}.`
}

const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))
