/**
 * An agent's tool set: what the model is offered (the "wire" toolkit) and how each call runs (one entry per tool
 * with a handler), with every failure turned into an error result for the model.
 */
import * as AiError from "@effect/ai/AiError"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import * as Arbitrary from "effect/Arbitrary"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { Handler, ToolContext } from "../../Agent.js"
import * as Node from "../../Node.js"

/** What a tool call gave: the result sent back to the model, and whether it is an error. */
export interface Outcome {
  readonly result: unknown
  readonly isError: boolean
}

/** A tool the agent can run. */
export interface ToolEntry {
  readonly tool: Tool.Any
  readonly execute: (params: unknown, context: ToolContext) => Effect.Effect<Outcome>
}

/** The tools of an agent: their names, the toolkit offered to the model, and the runnable entries. */
export interface ToolSet {
  readonly names: ReadonlyArray<string>
  readonly wire: Toolkit.Any
  readonly entries: ReadonlyMap<string, ToolEntry>
}

/** No tools. */
export const empty: ToolSet = { names: [], wire: Toolkit.make(), entries: new Map() }

/**
 * Builds a tool set from a toolkit and its handlers, which capture the context they run in; without handlers, the
 * toolkit's handlers come from context (a `toolkit.toLayer(...)` Layer).
 */
export const make = (
  toolkit: Toolkit.Any | undefined,
  handlers: { readonly [name: string]: Handler<Tool.Any, never> } | undefined
): Effect.Effect<ToolSet, never, any> =>
  Effect.gen(function*() {
    if (toolkit === undefined) return empty
    const tools = Object.values(toolkit.tools) as Array<Tool.Any>
    const entries = new Map<string, ToolEntry>()
    if (handlers === undefined) {
      const withHandler = yield* (toolkit as unknown as Effect.Effect<Toolkit.WithHandler<any>, never, any>)
      for (const tool of tools) {
        if (!Tool.isProviderDefined(tool)) entries.set(tool.name, toolkitEntry(tool, withHandler))
      }
    } else {
      const context = yield* Effect.context<never>()
      for (const tool of tools) {
        const handler = handlers[tool.name]
        if (handler !== undefined) entries.set(tool.name, handlerEntry(tool, handler, context))
      }
    }
    return { names: tools.map((tool) => tool.name), wire: Toolkit.make(...tools.map(wireTool)), entries }
  })

/** The error result for a call of a tool the agent does not have. */
export const unknownTool = (tools: ToolSet, name: string): Outcome =>
  errorOutcome(`unknown tool "${name}"; the available tools are: ${[...tools.entries.keys()].join(", ")}`)

/**
 * The tool as offered to the model: same name, description and JSON Schema, but parameters that decode anything,
 * so that `@effect/ai` passes invalid parameters through and the agent can answer them with an error result.
 * The `arbitrary` annotation keeps engines that generate parameters from the schema (the dry-run engine) working.
 */
const wireTool = (tool: Tool.Any): Tool.Any => {
  if (Tool.isProviderDefined(tool)) return tool
  const params = tool.parametersSchema as unknown as Schema.Schema<unknown, unknown>
  const encode = Schema.encodeSync(params)
  const lenient = Schema.Unknown.annotations({
    jsonSchema: Tool.getJsonSchemaFromSchemaAst(params.ast),
    arbitrary: () => () => Arbitrary.make(params).map((value) => encode(value))
  })
  return (tool as unknown as Tool.Tool<string, any>).setParameters(lenient as any) as unknown as Tool.Any
}

const handlerEntry = (
  tool: Tool.Any,
  handler: Handler<Tool.Any, never>,
  context: Context.Context<never>
): ToolEntry => {
  const decode = Schema.decodeUnknown(tool.parametersSchema as unknown as Schema.Schema<unknown, unknown>, {
    errors: "all"
  })
  const encodeSuccess = Schema.encodeUnknown(tool.successSchema as Schema.Schema<unknown, unknown>)
  const failure = failureEncoder(tool)
  const succeed = (value: unknown): Effect.Effect<Outcome> =>
    Effect.match(encodeSuccess(value), {
      onFailure: (error) =>
        errorOutcome(
          `tool "${tool.name}" returned a value that does not match its success schema: ${
            ParseResult.TreeFormatter.formatErrorSync(error)
          }`
        ),
      onSuccess: (result): Outcome => ({ result, isError: false })
    })
  return {
    tool,
    execute: (params, toolContext) =>
      Effect.matchEffect(decode(params), {
        onFailure: (error) =>
          Effect.succeed(errorOutcome(
            `invalid parameters for tool "${tool.name}": ${ParseResult.TreeFormatter.formatErrorSync(error)}`
          )),
        onSuccess: (decoded) =>
          handler(decoded as never, toolContext).pipe(
            Effect.provide(context),
            Effect.matchCauseEffect({ onSuccess: succeed, onFailure: (cause) => failed(tool, failure, cause) })
          )
      })
  }
}

const toolkitEntry = (tool: Tool.Any, toolkit: Toolkit.WithHandler<any>): ToolEntry => {
  const failure = failureEncoder(tool)
  return {
    tool,
    execute: (params) =>
      toolkit.handle(tool.name, params as never).pipe(
        Effect.matchCauseEffect({
          onSuccess: ({ encodedResult, isFailure }) =>
            Effect.succeed<Outcome>({ result: encodedResult, isError: isFailure }),
          onFailure: (cause) => failed(tool, failure, cause)
        })
      ) as Effect.Effect<Outcome>
  }
}

/** A handler's failure as an error result; an interruption stays one. */
const failed = (
  tool: Tool.Any,
  failure: (error: unknown) => Effect.Effect<Outcome>,
  cause: Cause.Cause<unknown>
): Effect.Effect<Outcome> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Cause.failureOption(cause)
  return Option.isSome(error) ? failure(error.value) : Effect.succeed(defectOutcome(tool.name, cause))
}

/** Turns a handler's failure into an error result: encoded with the tool's failure schema when it matches. */
const failureEncoder = (tool: Tool.Any): (error: unknown) => Effect.Effect<Outcome> => {
  const schema = tool.failureSchema as Schema.Schema<unknown, unknown>
  if (schema.ast._tag === "NeverKeyword") return (error) => Effect.succeed(failureOutcome(tool.name, error))
  const is = Schema.is(schema)
  const encode = Schema.encodeUnknown(schema)
  return (error) =>
    is(error)
      ? Effect.match(encode(error), {
        onFailure: () => failureOutcome(tool.name, error),
        onSuccess: (result): Outcome => ({ result, isError: true })
      })
      : Effect.succeed(failureOutcome(tool.name, error))
}

const errorOutcome = (text: string): Outcome => ({ result: `Error: ${text}`, isError: true })

const failureOutcome = (name: string, error: unknown): Outcome =>
  errorOutcome(
    AiError.isAiError(error) && error._tag === "MalformedOutput" && error.description !== undefined
      ? error.description
      : `tool "${name}" failed: ${describe(error)}`
  )

const defectOutcome = (name: string, cause: Cause.Cause<unknown>): Outcome =>
  errorOutcome(`tool "${name}" crashed: ${describe(Cause.squash(cause))}`)

const describe = (error: unknown): string => {
  const message = Node.errorMessage(error)
  const tag = Node.errorTag(error)
  return tag === "Error" || message.startsWith(tag) ? message : `${tag}: ${message}`
}
