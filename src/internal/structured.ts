/**
 * The one home of a structured-output call's attempts, shared by `Llm.object` (streaming) and Chain's LLM steps:
 *
 * - `guided: "auto"` sends the schema through the engine's structured-output channel; when a reply does not decode
 *   and the engine did not confirm the format, the engine is remembered as unguided (one cache for the process) and
 *   asked again with the schema in the system prompt (the instruction), without using up a repair;
 * - `"engine"` never puts the schema in the prompt, `"prompt"` always does;
 * - a reply that still does not decode is repaired `repairs` times: the previous answer and its issues are appended
 *   to the conversation.
 *
 * @internal
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as Event from "../Event.js"
import type * as Sampling from "../Sampling.js"
import * as StructuredOutput from "../StructuredOutput.js"
import { formatIssue, type StructuredOutputError } from "../StructuredOutputError.js"
import * as Eager from "./eager.js"
import * as Engine from "./languageModel.js"

/** Where the schema goes: see the module documentation. */
export type Guided = "auto" | "engine" | "prompt"

/** One attempt: its number (from 1), the conversation, whether the schema goes in the prompt, repairs left. */
export interface Attempt {
  readonly call: number
  readonly prompt: Prompt.Prompt
  readonly instruct: boolean
  readonly repairs: number
}

/** The `LanguageModel` services that did not confirm a requested format: the schema goes in their prompt. */
const unguided = new WeakSet<LanguageModel.Service>()

const instructions = new WeakMap<StructuredOutput.Format, string>()

const instruction = (format: StructuredOutput.Format): string => {
  let text = instructions.get(format)
  if (text === undefined) {
    text = StructuredOutput.instruction(format)
    instructions.set(format, text)
  }
  return text
}

/** The first attempt of a call to `model`. */
export const first = (
  model: LanguageModel.Service,
  prompt: Prompt.Prompt,
  guided: Guided,
  repairs: number
): Attempt => ({
  call: 1,
  prompt,
  instruct: guided === "prompt" || (guided === "auto" && unguided.has(model)),
  repairs
})

/** The prompt an attempt sends: with the schema instruction when it instructs. */
export const promptOf = (attempt: Attempt, format: StructuredOutput.Format): Prompt.Prompt =>
  attempt.instruct ? Prompt.appendSystem(attempt.prompt, instruction(format)) : attempt.prompt

/**
 * The attempt after one whose reply failed to decode with `error`, or `undefined` to give up: the prompt fallback
 * (`fallback: true`, remembering the engine as unguided) or a repair.
 */
export const next = (
  model: LanguageModel.Service,
  attempt: Attempt,
  format: StructuredOutput.Format,
  guided: Guided,
  error: StructuredOutputError
): { readonly attempt: Attempt; readonly fallback: boolean } | undefined => {
  if (guided === "auto" && !attempt.instruct && !StructuredOutput.isConfirmed(format)) {
    unguided.add(model)
    return { attempt: { ...attempt, call: attempt.call + 1, instruct: true }, fallback: true }
  }
  if (attempt.repairs <= 0) return undefined
  return {
    attempt: {
      call: attempt.call + 1,
      prompt: repairPrompt(attempt.prompt, error),
      instruct: attempt.instruct,
      repairs: attempt.repairs - 1
    },
    fallback: false
  }
}

/** The conversation of a repair: the previous answer, then what is wrong with it. */
export const repairPrompt = (prompt: Prompt.Prompt, error: StructuredOutputError): Prompt.Prompt => {
  const issues = error.issues.slice(0, 20).map((issue) => `- ${formatIssue(issue)}`)
  if (error.issues.length > 20) issues.push(`- and ${error.issues.length - 20} more`)
  const what = error.reason === "InvalidJson"
    ? "Your previous answer is not a complete, valid JSON value."
    : "Your previous answer does not match the required schema."
  return Prompt.merge(
    prompt,
    Prompt.make([
      { role: "assistant", content: error.text },
      {
        role: "user",
        content: `${what}\nIssues:\n${issues.join("\n")}\nAnswer again with only the corrected JSON value.`
      }
    ])
  )
}

/** Options of {@link generate}. */
export interface GenerateOptions<A, I> {
  readonly schema: Schema.Schema<A, I>
  readonly format: StructuredOutput.Format
  readonly prompt: Prompt.Prompt
  readonly guided: Guided
  readonly repairs: number
  readonly sampling?: Sampling.Sampling | undefined
  /** Called before a repair with the attempt that failed and its error. */
  readonly onRepair: (attempt: Attempt, error: StructuredOutputError) => Effect.Effect<void>
}

/**
 * A structured call with `generateText` (nothing streams): the decoded value and the token usage of all attempts.
 * Over an engine that answers at once, the call is made when the effect is built and the effect is complete (see
 * `eager.ts`): build it again to call again.
 */
export const generate = <A, I>(
  model: LanguageModel.Service,
  options: GenerateOptions<A, I>
): Effect.Effect<
  { readonly value: A; readonly usage: Event.Usage | undefined },
  AiError.AiError | StructuredOutputError
> => {
  const requested = options.guided === "prompt" ? Option.none() : requestedOf(options.format)
  const once = (
    attempt: Attempt,
    before: Event.Usage | undefined
  ): Effect.Effect<
    { readonly value: A; readonly usage: Event.Usage | undefined },
    AiError.AiError | StructuredOutputError
  > => {
    const call = Engine.generateText(model, {
      prompt: promptOf(attempt, options.format),
      format: requested,
      sampling: options.sampling
    })
    return Eager.flatMap(call, (response) => {
      const usage = Event.addUsage(before, Event.toUsage(response.usage))
      const decoder = StructuredOutput.makeDecoder(options.schema, {
        partial: false,
        objectName: options.format.objectName
      })
      decoder.feed(response.text)
      const result = decoder.finish({ attempt: attempt.call, finishReason: response.finishReason })
      if (Either.isRight(result)) return Exit.succeed({ value: result.right, usage })
      const following = next(model, attempt, options.format, options.guided, result.left)
      if (following === undefined) return Exit.fail(result.left)
      return following.fallback
        ? once(following.attempt, usage)
        : Eager.flatMap(options.onRepair(attempt, result.left), () => once(following.attempt, usage))
    })
  }
  return once(first(model, options.prompt, options.guided, options.repairs), undefined)
}

const jsonSchemas = new WeakMap<object, { plain?: JSONSchema.JsonSchema7Root; strict?: JSONSchema.JsonSchema7Root }>()

/**
 * `StructuredOutput.jsonSchema(schema, { strict })`, made once per schema: engines send it with every request (and
 * never change it).
 */
export const jsonSchemaOf = (schema: Schema.Schema.Any, strict = false): JSONSchema.JsonSchema7Root => {
  let cached = jsonSchemas.get(schema.ast)
  if (cached === undefined) {
    cached = {}
    jsonSchemas.set(schema.ast, cached)
  }
  const key = strict ? "strict" : "plain"
  return cached[key] ??= StructuredOutput.jsonSchema(schema, strict ? { strict } : undefined)
}

const requests = new WeakMap<StructuredOutput.Format, Option.Option<StructuredOutput.Format>>()

/** The requested format as the `currentFormat` value, one per format. */
const requestedOf = (format: StructuredOutput.Format): Option.Option<StructuredOutput.Format> => {
  let requested = requests.get(format)
  if (requested === undefined) {
    requested = Option.some(format)
    requests.set(format, requested)
  }
  return requested
}
