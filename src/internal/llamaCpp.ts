/**
 * Machinery of the in-process `LlamaCpp` engine: the prompt as `node-llama-cpp` chat history, JSON Schema as its
 * grammar schema, sampling as its generation options, and one generation as a stream of `@effect/ai` parts.
 */
import * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type {
  ChatHistoryItem,
  ChatModelFunctionCall,
  ChatModelFunctions,
  ChatModelResponse,
  GbnfJsonSchema,
  LlamaChat,
  LLamaChatGenerateResponseOptions,
  LlamaChatResponse,
  LlamaChatResponseChunk,
  LlamaChatResponseFunctionCallParamsChunk,
  LlamaContextSequence,
  LlamaGrammar
} from "node-llama-cpp"
import type * as Sampling from "../Sampling.js"
import { describe } from "./describe.js"
import { encodePrompt } from "./engineHttp.js"

type Json = any

// =============================================================================
// prompt → chat history
// =============================================================================

/**
 * The prompt as `node-llama-cpp` chat history, ending with the model response to continue (an empty one after a
 * user message; the last one, holding its tool calls and their results, after tool results).
 */
export const encodeHistory = (prompt: Prompt.Prompt): Either.Either<Array<ChatHistoryItem>, string> => {
  const calls = new Map<string, ChatModelFunctionCall>()
  const lastModel = (history: Array<ChatHistoryItem>): ChatModelResponse => {
    const last = history[history.length - 1]
    if (last !== undefined && last.type === "model") return last
    const created: ChatModelResponse = { type: "model", response: [] }
    history.push(created)
    return created
  }
  return Either.map(
    encodePrompt<ChatHistoryItem>(prompt, {
      system: (message, history) => {
        history.push({ type: "system", text: message.content })
      },
      user: (message, history) => {
        let text = ""
        for (const part of message.content) {
          if (part.type !== "text") return `a ${part.mediaType} file part (the engine reads text only)`
          text += part.text
        }
        history.push({ type: "user", text })
      },
      assistant: (message, history) => {
        const response = lastModel(history).response
        for (const part of message.content) {
          if (part.type === "text") response.push(part.text)
          else if (part.type === "reasoning") {
            response.push({ type: "segment", segmentType: "thought", text: part.text, ended: true })
          } else if (part.type === "tool-call" && !part.providerExecuted) {
            const call: ChatModelFunctionCall = {
              type: "functionCall",
              name: part.name,
              params: part.params,
              result: ""
            }
            calls.set(part.id, call)
            response.push(call)
          }
        }
      },
      tool: (message) => {
        for (const part of message.content) {
          const call = calls.get(part.id)
          if (call === undefined) return `a tool result for an unknown call id ${JSON.stringify(part.id)}`
          call.result = part.result
        }
      }
    }),
    (history) => {
      lastModel(history)
      return history
    }
  )
}

/** The offered tools as `node-llama-cpp` functions, or `undefined` when none may be called. */
export const encodeFunctions = (
  options: Pick<LanguageModel.ProviderOptions, "tools" | "toolChoice">
): ChatModelFunctions | undefined => {
  const choice = options.toolChoice
  if (choice === "none") return undefined
  const only = typeof choice === "object" ? "tool" in choice ? [choice.tool] : choice.oneOf : undefined
  const functions: Record<string, { description?: string; params: GbnfJsonSchema }> = {}
  for (const tool of options.tools) {
    if (Tool.isProviderDefined(tool) || (only !== undefined && !only.includes(tool.name))) continue
    functions[tool.name] = {
      ...(tool.description === undefined ? {} : { description: tool.description }),
      params: toGbnfSchema(Tool.getJsonSchemaFromSchemaAst(tool.parametersSchema.ast)) as GbnfJsonSchema
    }
  }
  return Object.keys(functions).length === 0 ? undefined : functions
}

// =============================================================================
// JSON Schema → node-llama-cpp's grammar schema
// =============================================================================

const ANY: Json = {
  oneOf: [
    { type: ["string", "number", "boolean", "null"] },
    { type: "object", additionalProperties: true },
    { type: "array" }
  ]
}

const DATE_FORMATS = new Set(["date-time", "time", "date"])

/**
 * A draft-07 JSON Schema in the subset `node-llama-cpp`'s grammar understands: `anyOf` becomes `oneOf`, an empty
 * schema any JSON value, and what a grammar cannot enforce (patterns, numeric bounds) is left to the final decode.
 */
export const toGbnfSchema = (schema: Json): Json => {
  if (schema === true || schema === undefined) return ANY
  if (schema === false || typeof schema !== "object" || schema === null) return ANY
  const out: Record<string, unknown> = {}
  if (typeof schema.description === "string") out.description = schema.description
  if (typeof schema.$ref === "string") {
    return withDefs(schema, { ...out, $ref: schema.$ref.replace("#/definitions/", "#/$defs/") })
  }
  const union = schema.anyOf ?? schema.oneOf
  if (Array.isArray(union)) return withDefs(schema, { ...out, oneOf: union.map(toGbnfSchema) })
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return toGbnfSchema(schema.allOf[0])
  if (schema.const !== undefined) return { ...out, const: schema.const }
  if (Array.isArray(schema.enum)) return { ...out, enum: schema.enum }
  const type = schema.type
  if (Array.isArray(type)) {
    if (type.every((t: string) => t !== "object" && t !== "array")) return { ...out, type }
    return withDefs(schema, { ...out, oneOf: type.map((t: string) => toGbnfSchema({ ...schema, type: t })) })
  }
  switch (type) {
    case "object":
      return withDefs(schema, { ...out, ...objectSchema(schema) })
    case "array":
      return withDefs(schema, { ...out, ...arraySchema(schema) })
    case "string":
      return {
        ...out,
        type: "string",
        ...(typeof schema.format === "string" && DATE_FORMATS.has(schema.format) ? { format: schema.format } : {}),
        ...(typeof schema.minLength === "number" ? { minLength: schema.minLength } : {}),
        ...(typeof schema.maxLength === "number" ? { maxLength: schema.maxLength } : {})
      }
    case "number":
    case "integer":
    case "boolean":
    case "null":
      return { ...out, type }
    default:
      return withDefs(schema, { ...out, ...ANY })
  }
}

/** The value with the schema's definitions (converted) as `$defs`. */
const withDefs = (schema: Record<string, any>, value: Record<string, unknown>): Record<string, unknown> => {
  const defs = schema.$defs ?? schema.definitions
  if (defs !== undefined && typeof defs === "object") {
    value.$defs = Object.fromEntries(Object.entries(defs).map(([key, def]) => [key, toGbnfSchema(def)]))
  }
  return value
}

const objectSchema = (schema: Record<string, any>): Record<string, unknown> => {
  const properties = schema.properties ?? {}
  const converted: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(properties)) converted[key] = toGbnfSchema(value)
  const pattern = schema.patternProperties === undefined ? [] : Object.values(schema.patternProperties)
  const additional = schema.additionalProperties ?? (pattern.length > 0 ? pattern[0] : undefined)
  return {
    type: "object",
    properties: converted,
    required: Array.isArray(schema.required) ? schema.required : [],
    additionalProperties: additional === undefined
      ? Object.keys(properties).length === 0
      : typeof additional === "boolean"
      ? additional
      : toGbnfSchema(additional),
    ...(typeof schema.minProperties === "number" ? { minProperties: schema.minProperties } : {}),
    ...(typeof schema.maxProperties === "number" ? { maxProperties: schema.maxProperties } : {})
  }
}

/** An array schema; a tuple (`prefixItems`, or draft-07's `items` array) keeps its length unless more are allowed. */
const arraySchema = (schema: Record<string, any>): Record<string, unknown> => {
  const bounds = {
    ...(typeof schema.minItems === "number" ? { minItems: schema.minItems } : {}),
    ...(typeof schema.maxItems === "number" ? { maxItems: schema.maxItems } : {})
  }
  const prefix = Array.isArray(schema.items) ? schema.items : schema.prefixItems
  if (!Array.isArray(prefix)) {
    return { type: "array", ...(schema.items === undefined ? {} : { items: toGbnfSchema(schema.items) }), ...bounds }
  }
  const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items
  return {
    type: "array",
    prefixItems: prefix.map(toGbnfSchema),
    ...(rest === false || rest === undefined
      ? { maxItems: prefix.length }
      : rest === true
      ? {}
      : { items: toGbnfSchema(rest) }),
    ...bounds
  }
}

// =============================================================================
// sampling
// =============================================================================

type GenerationOptions = Pick<
  LLamaChatGenerateResponseOptions,
  "temperature" | "topP" | "topK" | "minP" | "maxTokens" | "seed" | "customStopTriggers" | "repeatPenalty"
>

/** The portable sampling settings as `node-llama-cpp` generation options (temperature 0 is greedy). */
export const encodeSampling = (sampling: Sampling.Sampling | undefined): GenerationOptions => {
  if (sampling === undefined) return {}
  const out: Record<string, unknown> = {}
  if (sampling.temperature !== undefined) out.temperature = sampling.temperature
  if (sampling.topP !== undefined) out.topP = sampling.topP
  if (sampling.topK !== undefined) out.topK = sampling.topK
  if (sampling.minP !== undefined) out.minP = sampling.minP
  if (sampling.maxTokens !== undefined) out.maxTokens = sampling.maxTokens
  if (sampling.seed !== undefined) out.seed = sampling.seed
  if (sampling.stop !== undefined) {
    out.customStopTriggers = typeof sampling.stop === "string"
      ? [sampling.stop]
      : sampling.stop
  }
  if (
    sampling.repetitionPenalty !== undefined || sampling.frequencyPenalty !== undefined ||
    sampling.presencePenalty !== undefined
  ) {
    out.repeatPenalty = {
      ...(sampling.repetitionPenalty === undefined ? {} : { penalty: sampling.repetitionPenalty }),
      ...(sampling.frequencyPenalty === undefined ? {} : { frequencyPenalty: sampling.frequencyPenalty }),
      ...(sampling.presencePenalty === undefined ? {} : { presencePenalty: sampling.presencePenalty })
    }
  }
  return out as GenerationOptions
}

// =============================================================================
// one generation as a stream of parts
// =============================================================================

/** A context sequence with the chat that drives it. */
export interface Slot {
  readonly sequence: LlamaContextSequence
  readonly chat: LlamaChat
}

/** What one generation needs. */
export interface Generation {
  readonly engine: string
  readonly method: string
  readonly history: Array<ChatHistoryItem>
  readonly options: GenerationOptions
  readonly grammar: LlamaGrammar | undefined
  readonly functions: ChatModelFunctions | undefined
  /** A fresh id for a tool call. */
  readonly callId: () => string
  /** The shortest time between two deliveries of parts, in milliseconds (0: deliver each as it comes). */
  readonly interval: number
}

type Item =
  | Response.StreamPartEncoded
  | { readonly type: "end" }
  | { readonly type: "fail"; readonly error: AiError.AiError }

const FINISH: Record<string, Response.FinishReason> = {
  eogToken: "stop",
  stopGenerationTrigger: "stop",
  customStopTrigger: "stop",
  functionCalls: "tool-calls",
  maxTokens: "length",
  abort: "other"
}

/**
 * Runs one generation on a slot held for the stream's scope. The callbacks of `node-llama-cpp` push parts into a
 * queue; each pull takes everything queued, with consecutive text (or reasoning) deltas joined into one part. Closing
 * the stream early aborts the generation and waits for it to stop, so the slot is free when it is handed back.
 */
export const generate = (
  slot: Slot,
  generation: Generation
): Effect.Effect<Stream.Stream<Response.StreamPartEncoded, AiError.AiError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Item>()
    const controller = new AbortController()
    const emitter = new Emitter(queue, generation.callId)
    const before = slot.sequence.tokenMeter.getState()
    const options = {
      ...generation.options,
      signal: controller.signal,
      stopOnAbortSignal: true,
      onResponseChunk: emitter.onResponseChunk,
      ...(generation.grammar === undefined ? {} : { grammar: generation.grammar }),
      ...(generation.functions === undefined
        ? {}
        : { functions: generation.functions, onFunctionCallParamsChunk: emitter.onFunctionCallParamsChunk })
    } as LLamaChatGenerateResponseOptions<ChatModelFunctions>
    const running = slot.chat.generateResponse(generation.history, options).then(
      (response) => emitter.settle(response, slot.sequence.tokenMeter.diff(before)),
      (error: unknown) => {
        if (controller.signal.aborted) return
        const { engine, method } = generation
        emitter.offer({
          type: "fail",
          error: new AiError.UnknownError({ module: engine, method, description: describe(error), cause: error })
        })
      }
    )
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => {
        controller.abort()
        return running
      })
    )
    return Stream.repeatEffectChunkOption(new Batcher(queue, generation.interval).pull)
  })

/** Turns `node-llama-cpp`'s callbacks into stream parts: text and reasoning blocks, tool calls, the finish. */
class Emitter {
  private open: "text" | "reasoning" | undefined = undefined
  private blocks = 0
  private blockId = ""
  private readonly calls = new Map<number, string>()

  constructor(private readonly queue: Queue.Queue<Item>, private readonly callId: () => string) {}

  offer(item: Item): void {
    Queue.unsafeOffer(this.queue, item)
  }

  private openBlock(kind: "text" | "reasoning"): void {
    if (this.open === kind) return
    this.closeBlock()
    this.open = kind
    this.blockId = `${kind}-${this.blocks++}`
    this.offer({ type: `${kind}-start`, id: this.blockId })
  }

  private closeBlock(): void {
    if (this.open === undefined) return
    this.offer({ type: `${this.open}-end`, id: this.blockId })
    this.open = undefined
  }

  readonly onResponseChunk = (chunk: LlamaChatResponseChunk): void => {
    if (chunk.text.length === 0) return
    const kind = chunk.type === "segment" ? chunk.segmentType === "thought" ? "reasoning" : undefined : "text"
    if (kind === undefined) return
    this.openBlock(kind)
    this.offer({ type: `${kind}-delta`, id: this.blockId, delta: chunk.text })
  }

  readonly onFunctionCallParamsChunk = (chunk: LlamaChatResponseFunctionCallParamsChunk): void => {
    let id = this.calls.get(chunk.callIndex)
    if (id === undefined) {
      this.closeBlock()
      id = this.callId()
      this.calls.set(chunk.callIndex, id)
      this.offer({ type: "tool-params-start", id, name: chunk.functionName })
    }
    if (chunk.paramsChunk.length > 0) this.offer({ type: "tool-params-delta", id, delta: chunk.paramsChunk })
    if (chunk.done) this.offer({ type: "tool-params-end", id })
  }

  /** The response is complete: its tool calls (with params not streamed yet), the finish and the end. */
  settle(
    response: LlamaChatResponse<ChatModelFunctions>,
    used: { readonly usedInputTokens: number; readonly usedOutputTokens: number }
  ): void {
    this.closeBlock()
    const functionCalls = response.functionCalls ?? []
    functionCalls.forEach((call, index) => {
      let id = this.calls.get(index)
      if (id === undefined) {
        id = this.callId()
        this.offer({ type: "tool-params-start", id, name: call.functionName })
        this.offer({ type: "tool-params-delta", id, delta: JSON.stringify(call.params ?? {}) })
        this.offer({ type: "tool-params-end", id })
      }
      this.offer({ type: "tool-call", id, name: call.functionName, params: call.params ?? {} })
    })
    this.offer({
      type: "finish",
      reason: functionCalls.length > 0 ? "tool-calls" : FINISH[response.metadata.stopReason] ?? "unknown",
      usage: {
        inputTokens: used.usedInputTokens,
        outputTokens: used.usedOutputTokens,
        totalTokens: used.usedInputTokens + used.usedOutputTokens
      }
    })
    this.offer({ type: "end" })
  }
}

/**
 * Takes the queued items as stream chunks. `LanguageModel` costs about as much per part as a tiny model per token:
 * parts that come faster than the interval wait for it and leave together, consecutive deltas of a block merged (the
 * first one at once; slower tokens each as it comes).
 */
class Batcher {
  private done = false
  private failure: AiError.AiError | undefined = undefined
  private delivered = Number.NEGATIVE_INFINITY
  private readonly parts: Array<Response.StreamPartEncoded> = []

  constructor(private readonly queue: Queue.Queue<Item>, private readonly interval: number) {}

  private add(items: Chunk.Chunk<Item>): void {
    for (const item of items) {
      if (item.type === "end") this.done = true
      else if (item.type === "fail") this.failure = item.error
      else {
        const last = this.parts[this.parts.length - 1]
        if (
          (item.type === "text-delta" || item.type === "reasoning-delta") && last !== undefined &&
          last.type === item.type && last.id === item.id
        ) {
          this.parts[this.parts.length - 1] = { ...last, delta: last.delta + item.delta }
        } else {
          this.parts.push(item)
        }
      }
    }
  }

  private deliver(now: number): Chunk.Chunk<Response.StreamPartEncoded> {
    this.delivered = now
    const chunk = Chunk.unsafeFromArray(this.parts.slice())
    this.parts.length = 0
    return chunk
  }

  readonly pull: Effect.Effect<Chunk.Chunk<Response.StreamPartEncoded>, Option.Option<AiError.AiError>> = Effect
    .suspend(() => {
      if (this.failure !== undefined) return Effect.fail(Option.some(this.failure))
      if (this.done) return Effect.fail(Option.none())
      return Effect.flatMap(Queue.takeBetween(this.queue, 1, Number.MAX_SAFE_INTEGER), (items) => {
        this.add(items)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const wait = this.delivered + this.interval - now
          if (this.done || this.failure !== undefined || wait <= 0) return Effect.succeed(this.deliver(now))
          return Effect.sleep(Duration.millis(wait)).pipe(
            Effect.zipRight(Queue.takeAll(this.queue)),
            Effect.map((more) => {
              this.add(more)
              return this.deliver(now + wait)
            })
          )
        })
      })
    })
}
