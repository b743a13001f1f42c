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
  const withDefs = (value: Record<string, unknown>) => {
    const defs = schema.$defs ?? schema.definitions
    if (defs !== undefined && typeof defs === "object") {
      value.$defs = Object.fromEntries(Object.entries(defs).map(([key, def]) => [key, toGbnfSchema(def)]))
    }
    return value
  }
  if (typeof schema.$ref === "string") {
    return withDefs({ ...out, $ref: schema.$ref.replace("#/definitions/", "#/$defs/") })
  }
  const union = schema.anyOf ?? schema.oneOf
  if (Array.isArray(union)) return withDefs({ ...out, oneOf: union.map(toGbnfSchema) })
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return toGbnfSchema(schema.allOf[0])
  if (schema.const !== undefined) return { ...out, const: schema.const }
  if (Array.isArray(schema.enum)) return { ...out, enum: schema.enum }
  const type = schema.type
  if (Array.isArray(type)) {
    if (type.every((t: string) => t !== "object" && t !== "array")) return { ...out, type }
    return withDefs({ ...out, oneOf: type.map((t: string) => toGbnfSchema({ ...schema, type: t })) })
  }
  switch (type) {
    case "object": {
      const properties = schema.properties ?? {}
      const converted: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(properties)) converted[key] = toGbnfSchema(value)
      const pattern = schema.patternProperties === undefined ? [] : Object.values(schema.patternProperties)
      const additional = schema.additionalProperties ?? (pattern.length > 0 ? pattern[0] : undefined)
      return withDefs({
        ...out,
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
      })
    }
    case "array": {
      const bounds = {
        ...(typeof schema.minItems === "number" ? { minItems: schema.minItems } : {}),
        ...(typeof schema.maxItems === "number" ? { maxItems: schema.maxItems } : {})
      }
      const prefix = Array.isArray(schema.items) ? schema.items : schema.prefixItems
      if (Array.isArray(prefix)) {
        const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items
        return withDefs({
          ...out,
          type: "array",
          prefixItems: prefix.map(toGbnfSchema),
          ...(rest === false || rest === undefined
            ? { maxItems: prefix.length }
            : rest === true
            ? {}
            : { items: toGbnfSchema(rest) }),
          ...bounds
        })
      }
      return withDefs({
        ...out,
        type: "array",
        ...(schema.items === undefined ? {} : { items: toGbnfSchema(schema.items) }),
        ...bounds
      })
    }
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
      return withDefs({ ...out, ...ANY })
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

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

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
    const offer = (item: Item) => Queue.unsafeOffer(queue, item)
    let open: "text" | "reasoning" | undefined
    let blocks = 0
    let blockId = ""
    const calls = new Map<number, string>()
    const openBlock = (kind: "text" | "reasoning") => {
      if (open === kind) return
      closeBlock()
      open = kind
      blockId = `${kind}-${blocks++}`
      offer({ type: `${kind}-start`, id: blockId })
    }
    const closeBlock = () => {
      if (open === undefined) return
      offer({ type: `${open}-end`, id: blockId })
      open = undefined
    }
    const onResponseChunk = (chunk: LlamaChatResponseChunk) => {
      if (chunk.text.length === 0) return
      const kind = chunk.type === "segment" ? chunk.segmentType === "thought" ? "reasoning" : undefined : "text"
      if (kind === undefined) return
      openBlock(kind)
      offer({ type: `${kind}-delta`, id: blockId, delta: chunk.text })
    }
    const onFunctionCallParamsChunk = (chunk: LlamaChatResponseFunctionCallParamsChunk) => {
      let id = calls.get(chunk.callIndex)
      if (id === undefined) {
        closeBlock()
        id = generation.callId()
        calls.set(chunk.callIndex, id)
        offer({ type: "tool-params-start", id, name: chunk.functionName })
      }
      if (chunk.paramsChunk.length > 0) offer({ type: "tool-params-delta", id, delta: chunk.paramsChunk })
      if (chunk.done) offer({ type: "tool-params-end", id })
    }
    const before = slot.sequence.tokenMeter.getState()
    const settle = (response: LlamaChatResponse<ChatModelFunctions>) => {
      closeBlock()
      const functionCalls = response.functionCalls ?? []
      functionCalls.forEach((call, index) => {
        let id = calls.get(index)
        if (id === undefined) {
          id = generation.callId()
          const params = JSON.stringify(call.params ?? {})
          offer({ type: "tool-params-start", id, name: call.functionName })
          offer({ type: "tool-params-delta", id, delta: params })
          offer({ type: "tool-params-end", id })
        }
        offer({ type: "tool-call", id, name: call.functionName, params: call.params ?? {} })
      })
      const used = slot.sequence.tokenMeter.diff(before)
      offer({
        type: "finish",
        reason: functionCalls.length > 0 ? "tool-calls" : FINISH[response.metadata.stopReason] ?? "unknown",
        usage: {
          inputTokens: used.usedInputTokens,
          outputTokens: used.usedOutputTokens,
          totalTokens: used.usedInputTokens + used.usedOutputTokens
        }
      })
      offer({ type: "end" })
    }
    const options = {
      ...generation.options,
      signal: controller.signal,
      stopOnAbortSignal: true,
      onResponseChunk,
      ...(generation.grammar === undefined ? {} : { grammar: generation.grammar }),
      ...(generation.functions === undefined ? {} : { functions: generation.functions, onFunctionCallParamsChunk })
    } as LLamaChatGenerateResponseOptions<ChatModelFunctions>
    const running = slot.chat.generateResponse(generation.history, options).then(settle, (error: unknown) => {
      if (controller.signal.aborted) return
      offer({
        type: "fail",
        error: new AiError.UnknownError({
          module: generation.engine,
          method: generation.method,
          description: describe(error),
          cause: error
        })
      })
    })
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => {
        controller.abort()
        return running
      })
    )
    let done = false
    let failure: AiError.AiError | undefined
    let delivered = Number.NEGATIVE_INFINITY
    const parts: Array<Response.StreamPartEncoded> = []
    const add = (items: Chunk.Chunk<Item>) => {
      for (const item of items) {
        if (item.type === "end") done = true
        else if (item.type === "fail") failure = item.error
        else {
          const last = parts[parts.length - 1]
          if (
            (item.type === "text-delta" || item.type === "reasoning-delta") && last !== undefined &&
            last.type === item.type && last.id === item.id
          ) {
            parts[parts.length - 1] = { ...last, delta: last.delta + item.delta }
          } else {
            parts.push(item)
          }
        }
      }
    }
    const deliver = (now: number) => {
      delivered = now
      const chunk = Chunk.unsafeFromArray(parts.slice())
      parts.length = 0
      return chunk
    }
    // `LanguageModel` costs about as much per part as a tiny model per token: parts that come faster than the
    // interval wait for it and leave together (the first one at once; slower tokens each as it comes)
    const pull = Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(Option.some(failure))
      if (done) return Effect.fail(Option.none())
      return Effect.flatMap(Queue.takeBetween(queue, 1, Number.MAX_SAFE_INTEGER), (items) => {
        add(items)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const wait = delivered + generation.interval - now
          if (done || failure !== undefined || wait <= 0) return Effect.succeed(deliver(now))
          return Effect.sleep(Duration.millis(wait)).pipe(
            Effect.zipRight(Queue.takeAll(queue)),
            Effect.map((more) => {
              add(more)
              return deliver(now + wait)
            })
          )
        })
      })
    })
    return Stream.repeatEffectChunkOption(pull)
  })
