/**
 * Chains: typed LLM steps, pure steps and parallel branches over a stream of items, Chainette's model in Effect.
 *
 * ```ts
 * const chain = Chain.make({
 *   name: "products",
 *   steps: [
 *     Chain.llm({ id: "extract", input: RawDesc, output: Attr, engine: "llama3", prompt: "Describe: {{text}}" }),
 *     [
 *       Chain.branch({ name: "fr", steps: [Chain.llm({ id: "to_fr", input: Attr, output: Attr, prompt: "…{{brand}}" })] }).as("fr"),
 *       Chain.branch({ name: "es", steps: [Chain.llm({ id: "to_es", input: Attr, output: Attr, prompt: "…{{brand}}" })] }).as("es")
 *     ],
 *     Chain.apply("merge", (attr: Attr, { vars }) => ({ ...attr, fr: vars.fr, es: vars.es }))
 *   ]
 * })
 * ```
 *
 * - **Data flow.** Each item flows through the steps in order: a step's input is the previous step's output (the
 *   first step gets the row). Steps exchange JSON values: an output is encoded with the step's output schema (that is
 *   what the runner writes) and the next step decodes it with its input schema, so an item that does not match is a
 *   per-item `ChainError` (`InvalidInput`) and the run goes on.
 * - **Templates.** Prompts are `Template`s: `{{field}}` reads the step's (decoded) input, `{{step_id.field}}` the
 *   output of an earlier step, `{{alias.field}}` the final output of a branch named `alias` with `.as("alias")`, and
 *   `{{chain_input.field}}` the original row. Every field is checked against the schemas when the chain is built:
 *   an unknown one is a `ChainError` (`UnknownField`) naming the step and the field ({@link check}); running an
 *   invalid chain fails with it before any item.
 * - **Branches.** A list of branches ({@link branch}) runs in parallel for each item, each on the output of the step
 *   before the list; the step after the list gets that same value. `.as("alias")` makes a branch's final output
 *   available to later templates (and to pure steps' `vars`). A step failing in a branch fails the item; a pure
 *   step filtering an item in a branch ends only that branch (its alias is then empty).
 * - **Pure steps.** {@link apply} runs a function per item (return `undefined` to drop the item) or, with
 *   `batch: true`, per batch of items (one result per input, in order; inside a branch a batch step gets one item
 *   at a time). A pure step maps one input to at most one output (no fan-out).
 * - **Calls.** An LLM step makes one `generateText` call per item (no token streaming: the runner needs whole
 *   values), with the output schema sent through the structured-output channel (`StructuredOutput`), the JSON Schema
 *   put in the system prompt for engines that do not confirm that channel, `repair` retries with the issues fed
 *   back, and `retry` for retryable engine errors. `sampling` goes with each call (`Sampling.withSampling`) and is laid
 *   over the engine's defaults by sluice's HTTP engines; it is also recorded in `graph.json` and the step's hash.
 * - **Engines.** An LLM step names its engine; when a chain runs, the name resolves through the `EngineRegistry` if
 *   one is provided and knows it, else to the `LanguageModel` in context ({@link resolveEngines}).
 * - **Running.** {@link stream} streams the events of a run over any inputs (`RunStart`, per item and step
 *   `StepStart` / `StepEnd` / `StepError` at path `[chain, step]` with `item` = the item's index, `RunEnd`); {@link run}
 *   consumes it. `Runner` runs a chain over a dataset with artefacts and resume.
 *
 * @since 0.1.0
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as JSONSchema from "effect/JSONSchema"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ChainError } from "./ChainError.js"
import * as Concurrency from "./Concurrency.js"
import * as EngineError from "./EngineError.js"
import * as EngineRegistry from "./EngineRegistry.js"
import type * as Event from "./Event.js"
import { mismatch } from "./internal/chain/compatible.js"
import * as Retry from "./internal/retry.js"
import * as Structured from "./internal/structured.js"
import * as Node from "./Node.js"
import * as Pipeline from "./Pipeline.js"
import type * as Sampling from "./Sampling.js"
import type * as StructuredOutput from "./StructuredOutput.js"
import * as Template from "./Template.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Chain")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

// =============================================================================
// models
// =============================================================================

/**
 * An LLM step: asks the engine for a value of the `output` schema, with prompts rendered from templates.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * const step: Chain.LlmStep<{ readonly text: string }, { readonly label: string }> = Chain.llm({
 *   id: "classify",
 *   input: Schema.Struct({ text: Schema.String }),
 *   output: Schema.Struct({ label: Schema.String }),
 *   prompt: "Classify: {{text}}"
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LlmStep<in out I = any, in out O = any> {
  readonly _tag: "LlmStep"
  readonly id: string
  readonly name: string
  readonly input: Schema.Schema<I, any>
  readonly output: Schema.Schema<O, any>
  readonly engine: string | undefined
  readonly sampling: Sampling.Sampling | undefined
  readonly system: Template.Template | undefined
  readonly prompt: Template.Template
  readonly repair: number
  readonly retry: number
}

/**
 * What a pure step's function receives with its input: the item's `id` and `index`, and `vars`, the values
 * templates can read (`chain_input`, earlier steps' outputs by id, aliased branches' outputs by alias; as JSON).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const total = (n: { value: number }, context: Chain.ApplyContext) =>
 *   n.value + Number((context.vars.inc as { value: number }).value)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplyContext {
  readonly id: string
  readonly index: number
  readonly vars: Readonly<Record<string, unknown>>
}

/**
 * A pure step: a function per item (`batch: false`) or per batch of items (`batch: true`, at most `batchSize`
 * items at a time). `input` and `output` schemas are optional: with an input schema the input is decoded (an item
 * that does not match fails), with an output schema the result is encoded and later templates are checked against
 * it.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * const step: Chain.ApplyStep<{ score: number }, { score: number }> = Chain.apply(
 *   "keep_good",
 *   (x: { score: number }) => x.score >= 4 ? x : undefined
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplyStep<in out I = any, in out O = any> {
  readonly _tag: "ApplyStep"
  readonly id: string
  readonly name: string
  readonly batch: boolean
  readonly batchSize: number
  readonly input: Schema.Schema<I, any> | undefined
  readonly output: Schema.Schema<O, any> | undefined
  readonly fn: (inputs: ReadonlyArray<I>, contexts: ReadonlyArray<ApplyContext>) => ReadonlyArray<O | undefined>
  readonly source: string
}

/**
 * A branch: a line of steps run in parallel with the other branches of its list. `.as("alias")` names its final
 * output for later templates (`{{alias.field}}`).
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const toFrench: Chain.LlmStep
 * const fr: Chain.Branch = Chain.branch({ name: "fr", steps: [toFrench] }).as("fr")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Branch extends Pipeable {
  readonly _tag: "Branch"
  readonly name: string
  readonly steps: ReadonlyArray<Step>
  readonly alias: string | undefined
  readonly as: (alias: string) => Branch
}

/**
 * A step of a chain: an LLM step, a pure step, or a list of branches run in parallel.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const isParallel = (step: Chain.Step) => Array.isArray(step)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Step = LlmStep<any, any> | ApplyStep<any, any> | ReadonlyArray<Branch>

/**
 * A chain of steps from `I` (the first step's input) to `O` (the last step's output).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain<{ readonly text: string }, { readonly label: string }>
 * chain.name
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Chain<in out I = any, in out O = any> extends Pipeable {
  readonly [TypeId]: {
    readonly _I: (_: I) => I
    readonly _O: (_: O) => O
  }
  readonly name: string
  readonly steps: ReadonlyArray<Step>
}

/**
 * Type helpers for chains.
 *
 * @since 0.1.0
 */
export declare namespace Chain {
  /**
   * The input type of a step.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type StepInput<S> = S extends LlmStep<infer I, infer _O> ? I : S extends ApplyStep<infer I, infer _O> ? I
  : unknown
  /**
   * The output type of a step.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type StepOutput<S> = S extends LlmStep<infer _I, infer O> ? O : S extends ApplyStep<infer _I, infer O> ? O
  : unknown
  /**
   * The input type of a list of steps (its first step's).
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Input<Steps> = Steps extends readonly [infer First, ...Array<any>] ? StepInput<First> : unknown
  /**
   * The output type of a list of steps (its last non-parallel step's).
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Output<Steps> = Steps extends readonly [...infer Init, infer Last]
    ? Last extends ReadonlyArray<any> ? Output<Init> : StepOutput<Last>
    : unknown
  /**
   * `unknown` when every step of a list accepts the output of the step before it (parallel groups pass the value
   * before them on), else a type naming the first mismatch: {@link make} intersects its steps with it, so a step
   * that cannot take the previous step's output does not compile.
   *
   * @since 0.1.0
   * @category utility types
   */
  export type Compatible<Steps, Prev = undefined> = Steps extends readonly [infer S, ...infer Rest]
    ? S extends ReadonlyArray<any> ? Compatible<Rest, Prev>
    : [Prev] extends [undefined] ? Compatible<Rest, S>
    : [StepOutput<Prev>] extends [StepInput<S>] ? Compatible<Rest, S>
    : {
      readonly "a step's input type does not accept the previous step's output type": {
        readonly output: StepOutput<Prev>
        readonly input: StepInput<S>
      }
    }
    : unknown
}

/**
 * One item to run: its `id`, its `index` and its `data` (what the first step gets). `done` holds the outputs
 * (as JSON, by step id) already computed for the item by an earlier run: those steps are not run again.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const input: Chain.Input = { id: "sku-1", index: 0, data: { text: "Kettle, 1.7 l, 39 EUR" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly id: string
  readonly index: number
  readonly data: unknown
  readonly done?: Readonly<Record<string, unknown>> | undefined
}

/**
 * Why an item failed: the `step`, the error's tag and message, whether it is retryable, the number of `tries` made
 * in this run (retries included) and the error itself.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const failure: Chain.Failure = {
 *   step: "extract",
 *   error: "ChainError",
 *   message: "products/extract: InvalidInput (item 3) - …",
 *   retryable: false,
 *   tries: 1,
 *   cause: undefined
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly step: string
  readonly error: string
  readonly message: string
  readonly retryable: boolean
  readonly tries: number
  readonly cause: unknown
}

/**
 * What happened to one item: `complete` (it went through every step), `filtered` (a pure step dropped it:
 * `filteredBy`) or `failed` (`failure`). `outputs` holds the JSON outputs of the steps it went through by step id
 * (and of aliased branches by alias), `computed` the ids of the steps that ran in this run (the others came from
 * `done`), `output` the output of the last step of the chain when complete.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const ok = (result: Chain.Result) => result.status === "complete"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly id: string
  readonly index: number
  readonly input: unknown
  readonly status: "complete" | "filtered" | "failed"
  readonly outputs: Readonly<Record<string, unknown>>
  readonly computed: ReadonlyArray<string>
  readonly output: unknown
  readonly filteredBy: string | undefined
  readonly failure: Failure | undefined
}

/**
 * Where an LLM step's engine comes from: `registry` (the `EngineRegistry` engine `name`) or `context` (the
 * `LanguageModel` in context; `name` is the engine the step asked for, if any).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const label = (engine: Chain.ResolvedEngine) => engine.source === "registry" ? engine.name : "context"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedEngine {
  readonly step: string
  readonly name: string | undefined
  readonly source: "registry" | "context"
  readonly service: LanguageModel.Service
}

/**
 * Options of a run:
 *
 * - `runId` (one is made when omitted);
 * - `concurrency`: items in flight at once (default 16);
 * - `engines`: engine names by step id, overriding the steps' own;
 * - `engineConcurrency`: the most calls in flight per engine name (default: no limit but `concurrency`);
 * - `retry`: retries of a transient LLM failure (429, 5xx, transport, timeout; never 400/401/403/404) for steps
 *   that set none (default 2; 0 switches retries off), with jittered exponential backoff from `retryDelayMs`
 *   (default 500), never sooner than the server's retry-after; `engineRetry`: the same by engine name, between the
 *   step's own and the run's;
 * - `onEvent`: called with every event as it happens (the runner records metrics and forwards them).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const options: Chain.RunOptions = { concurrency: 64, engines: { extract: "local" }, retry: 2 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  readonly runId?: string | undefined
  readonly concurrency?: number | undefined
  readonly engines?: Readonly<Record<string, string>> | undefined
  readonly engineConcurrency?: Readonly<Record<string, number>> | undefined
  readonly retry?: number | undefined
  readonly engineRetry?: Readonly<Record<string, number>> | undefined
  readonly retryDelayMs?: number | undefined
}

/**
 * Options of {@link execute}: {@link RunOptions}, engines already resolved ({@link resolveEngines}), an event
 * callback, and `stop`: once it completes, the run takes no more inputs, abandons the items in flight (they are not
 * emitted: run them again later) and ends after emitting every item already finished (a graceful stop).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type * as Chain from "sluice/Chain"
 *
 * const options: Chain.ExecuteOptions = { concurrency: 8, onEvent: (event) => Effect.log(event._tag) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions extends RunOptions {
  readonly resolved?: ReadonlyMap<string, ResolvedEngine> | undefined
  readonly onEvent?: ((event: Event.Event) => Effect.Effect<void>) | undefined
  readonly stop?: Effect.Effect<void> | undefined
}

/**
 * What a chain runs over: a `Stream`, an `Iterable` or an `AsyncIterable` of inputs (items are numbered from 0, the
 * index is their id).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const inputs: Chain.Inputs<{ text: string }> = [{ text: "a" }, { text: "b" }]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Inputs<A, E = never, R = never> = Stream.Stream<A, E, R> | Iterable<A> | AsyncIterable<A>

/**
 * What {@link run} returns for each input, in input order: the status, the final output (decoded with the last
 * step's output schema) when complete, the JSON outputs of every step by id, and the failure.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const labels = (results: ReadonlyArray<Chain.Output<{ label: string }>>) =>
 *   results.flatMap((r) => r.status === "complete" ? [r.output!.label] : [])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Output<O> {
  readonly index: number
  readonly status: "complete" | "filtered" | "failed"
  readonly output: O | undefined
  readonly outputs: Readonly<Record<string, unknown>>
  readonly failure: { readonly step: string; readonly error: string; readonly message: string } | undefined
}

/**
 * The description of a chain written to `graph.json`: its steps (with engines, prompts, schemas as JSON Schema and
 * configuration hashes), and the hashes by step id.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const ids = (d: Chain.GraphJson) => Object.keys(d.hashes)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GraphJson {
  readonly name: string
  readonly steps: ReadonlyArray<GraphJsonStep>
  readonly hashes: Readonly<Record<string, string>>
  readonly hash: string
}

/**
 * One step in a {@link GraphJson}.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const kind = (s: Chain.GraphJsonStep) => s.kind
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type GraphJsonStep =
  | {
    readonly kind: "llm"
    readonly id: string
    readonly name: string
    readonly engine: string | undefined
    readonly sampling: Sampling.Sampling | undefined
    readonly system: string | undefined
    readonly prompt: string
    readonly fields: ReadonlyArray<string>
    readonly repair: number
    readonly retry: number
    readonly input: unknown
    readonly output: unknown
    readonly dependsOn: ReadonlyArray<string>
    readonly hash: string
  }
  | {
    readonly kind: "apply"
    readonly id: string
    readonly name: string
    readonly batch: boolean
    readonly batchSize: number
    readonly input: unknown
    readonly output: unknown
    readonly dependsOn: ReadonlyArray<string>
    readonly hash: string
  }
  | {
    readonly kind: "parallel"
    readonly branches: ReadonlyArray<{
      readonly name: string
      readonly alias: string | undefined
      readonly steps: ReadonlyArray<GraphJsonStep>
    }>
  }

// =============================================================================
// constructors
// =============================================================================

/**
 * Options of {@link llm}: `id` (a plain name, unique in the chain), `name` (a label, default the id), the `input`
 * and `output` schemas, the `engine` name, `sampling`, the `system` and user `prompt` templates, `repair` (asks
 * again with the issues when the reply does not decode, default 0) and `retry` (retries of transient engine errors,
 * default: the engine's or the run's, 2 unless set; 0 switches them off).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import type * as Chain from "sluice/Chain"
 *
 * const Doc = Schema.Struct({ body: Schema.String })
 * const Summary = Schema.Struct({ summary: Schema.String })
 * const options: Chain.LlmOptions<typeof Doc.Type, typeof Doc.Encoded, typeof Summary.Type, typeof Summary.Encoded> = {
 *   id: "summ",
 *   input: Doc,
 *   output: Summary,
 *   system: "Write a concise summary.",
 *   prompt: "{{body}}"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LlmOptions<I, IE, O, OE> {
  readonly id: string
  readonly name?: string | undefined
  readonly input: Schema.Schema<I, IE>
  readonly output: Schema.Schema<O, OE>
  readonly engine?: string | undefined
  readonly sampling?: Sampling.Sampling | undefined
  readonly system?: string | undefined
  readonly prompt: string
  readonly repair?: number | undefined
  readonly retry?: number | undefined
}

/**
 * An LLM step (see {@link LlmOptions}). Templates that are malformed or read unknown fields are reported by
 * {@link make} / {@link check}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * const summarise = Chain.llm({
 *   id: "summ",
 *   name: "Summarise",
 *   input: Schema.Struct({ title: Schema.String, body: Schema.String }),
 *   output: Schema.Struct({ summary: Schema.String }),
 *   engine: "gemma",
 *   sampling: { temperature: 0.4, maxTokens: 200 },
 *   system: "Write a concise, factual summary (1-2 sentences).",
 *   prompt: "{{title}}\n\n{{body}}"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const llm = <I, IE, O, OE>(options: LlmOptions<I, IE, O, OE>): LlmStep<I, O> => ({
  _tag: "LlmStep",
  id: options.id,
  name: options.name ?? options.id,
  input: options.input,
  output: options.output,
  engine: options.engine,
  sampling: options.sampling,
  system: options.system === undefined ? undefined : Template.make(options.system),
  prompt: Template.make(options.prompt),
  repair: options.repair ?? 0,
  retry: options.retry ?? -1
})

/**
 * Options of {@link apply}: `name` (a label), `input` / `output` schemas (optional), `batch` (call the function per
 * batch), `batchSize` (default 64) and `version`. A pure step's configuration hash covers its function's source
 * (with whitespace and formatting normalised, so the same code transpiled differently hashes the same); set
 * `version` to hash that instead, and change it when the function's behaviour changes.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 *
 * const options: Chain.ApplyOptions<number, number> = { name: "Double", batch: true, batchSize: 128 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplyOptions<I, O> {
  readonly name?: string | undefined
  readonly version?: string | number | undefined
  readonly input?: Schema.Schema<I, any> | undefined
  readonly output?: Schema.Schema<O, any> | undefined
  readonly batch?: boolean | undefined
  readonly batchSize?: number | undefined
}

/**
 * A pure step. Per item, `fn` returns the output, or `undefined` to drop the item (a filter). With `batch: true`,
 * `fn` gets the inputs of a batch and returns one result per input, in order (`undefined` drops that item), or a
 * shorter list of the inputs it keeps (the values it was given, in order; the others are dropped, as in Chainette's
 * `[item for item in items if item.confidence > 0.7]`). A function that throws fails the items it was given
 * (`ApplyFailed`).
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * const inc = Chain.apply("inc", (n: { value: number }) => ({ value: n.value + 1 }))
 * const keep = Chain.apply("keep_even", (n: { value: number }) => n.value % 2 === 0 ? n : undefined)
 * const norm = Chain.apply(
 *   "normalise",
 *   (xs: ReadonlyArray<{ value: number }>) => {
 *     const max = Math.max(...xs.map((x) => x.value))
 *     return xs.map((x) => ({ value: x.value / max }))
 *   },
 *   { batch: true, batchSize: 100 }
 * )
 * const confident = Chain.apply(
 *   "filter_low_confidence",
 *   (xs: ReadonlyArray<{ confidence: number }>) => xs.filter((x) => x.confidence > 0.7),
 *   { batch: true }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const apply: {
  <I, O>(
    id: string,
    fn: (inputs: ReadonlyArray<I>, contexts: ReadonlyArray<ApplyContext>) => ReadonlyArray<O | undefined>,
    options: ApplyOptions<I, O> & { readonly batch: true }
  ): ApplyStep<I, O>
  <I, O>(
    id: string,
    fn: (input: I, context: ApplyContext) => O | undefined,
    options?: ApplyOptions<I, O> & { readonly batch?: false | undefined }
  ): ApplyStep<I, O>
} = (
  id: string,
  fn: (input: any, context: any) => any,
  options?: ApplyOptions<any, any>
): ApplyStep<any, any> => {
  const batch = options?.batch === true
  return {
    _tag: "ApplyStep",
    id,
    name: options?.name ?? id,
    batch,
    batchSize: Math.max(1, Math.floor(options?.batchSize ?? 64)),
    input: options?.input,
    output: options?.output,
    fn: batch ? fn : (inputs, contexts) => inputs.map((input, i) => fn(input, contexts[i])),
    source: options?.version === undefined ? normalizeSource(String(fn)) : `version:${options.version}`
  }
}

const BranchProto = {
  _tag: "Branch",
  as(this: Branch, alias: string): Branch {
    return makeBranch(this.name, this.steps, alias)
  },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const makeBranch = (name: string, steps: ReadonlyArray<Step>, alias: string | undefined): Branch => {
  const self = Object.create(BranchProto)
  self.name = name
  self.steps = steps
  self.alias = alias
  return self
}

/**
 * A branch: a line of steps run in parallel with the other branches of its list; `.as("alias")` makes its final
 * output available to later templates as `{{alias.field}}` (and to pure steps' `vars`).
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const toFrench: Chain.LlmStep
 * const fr = Chain.branch({ name: "fr", steps: [toFrench] }).as("fr")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const branch = (options: { readonly name: string; readonly steps: ReadonlyArray<Step> }): Branch =>
  makeBranch(options.name, options.steps, undefined)

const ChainProto = {
  [TypeId]: { _I: (_: unknown) => _, _O: (_: unknown) => _ },
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Chain) {
    return { _id: "Chain", name: this.name }
  }
}

/**
 * Builds a chain. The chain is checked at once (ids, templates against schemas, each step's input schema against
 * the previous step's output schema; see {@link check}); an invalid chain is still returned, and fails with its
 * `ChainError` when it runs. A step whose input type does not accept the previous step's output type does not
 * compile (see {@link Chain.Compatible}).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * const Article = Schema.Struct({ title: Schema.String, body: Schema.String })
 * const Summary = Schema.Struct({ summary: Schema.String })
 * const Score = Schema.Struct({ score: Schema.Int })
 *
 * const chain = Chain.make({
 *   name: "summ_eval",
 *   steps: [
 *     Chain.llm({ id: "summ", input: Article, output: Summary, prompt: "{{body}}" }),
 *     Chain.llm({ id: "eval", input: Summary, output: Score, prompt: "Rate 1-5: {{summary}}\nSource: {{chain_input.body}}" })
 *   ]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Steps extends ReadonlyArray<Step>>(options: {
  readonly name: string
  readonly steps: Steps & Chain.Compatible<Steps>
}): Chain<Chain.Input<Steps>, Chain.Output<Steps>> => {
  const self = Object.create(ChainProto)
  self.name = options.name
  self.steps = options.steps
  plans.set(self, compile(options.name, options.steps))
  return self
}

/**
 * Tells whether a value is a {@link Chain}.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * Chain.isChain({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isChain = (u: unknown): u is Chain => Predicate.hasProperty(u, TypeId)

/**
 * The chain, or the `ChainError` found when it was built: a duplicate or invalid id, a malformed template, a
 * template field that the step's input schema (or the output schema of the step or alias it names) does not have, or
 * an input schema that cannot decode the previous step's output (`IncompatibleInput`: a required field it never
 * outputs, a string where a number is expected).
 * `Either` is an `Effect` in Effect 3, so it can be yielded.
 *
 * @example
 * ```ts
 * import { Either, Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * const bad = Chain.make({
 *   name: "c",
 *   steps: [Chain.llm({ id: "a", input: Schema.Struct({ text: Schema.String }), output: Schema.String, prompt: "{{txt}}" })]
 * })
 * Either.isLeft(Chain.check(bad)) // true: c/a: UnknownField {{txt}}
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const check = <I, O>(self: Chain<I, O>): Either.Either<Chain<I, O>, ChainError> =>
  Either.map(planOf(self), () => self)

/**
 * Every LLM and pure step of a chain, in order (branch steps in their list's order).
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const ids = Chain.flatSteps(chain).map((step) => step.id)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const flatSteps = (self: Chain): ReadonlyArray<LlmStep | ApplyStep> => {
  const out: Array<LlmStep | ApplyStep> = []
  const walk = (line: ReadonlyArray<Step>) => {
    for (const step of line) {
      if (isParallel(step)) { for (const b of step) walk(b.steps) }
      else out.push(step)
    }
  }
  walk(self.steps)
  return out
}

// =============================================================================
// rendering
// =============================================================================

/**
 * Describes a chain as JSON (for `graph.json`): steps with their engines, prompts, fields, schemas (as JSON
 * Schema), dependencies and configuration hashes. `engines` overrides engine names by step id (as a run would),
 * which changes the hashes of those steps and of the steps after them.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const json = JSON.stringify(Chain.toGraphJson(chain), null, 2)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toGraphJson = (
  self: Chain,
  options?: { readonly engines?: Readonly<Record<string, string>> | undefined } | undefined
): GraphJson => {
  const plan = Either.getOrUndefined(planOf(self))
  const hashes = plan === undefined
    ? {}
    : computeHashes(plan, (step) => options?.engines?.[step.id] ?? (step._tag === "LlmStep" ? step.engine : undefined))
  const deps = new Map(plan?.steps.map((s) => [s.step.id, s.deps]) ?? [])
  const describeLine = (line: ReadonlyArray<Step>): Array<GraphJsonStep> =>
    line.map((step): GraphJsonStep => {
      if (isParallel(step)) {
        return {
          kind: "parallel",
          branches: step.map((b) => ({ name: b.name, alias: b.alias, steps: describeLine(b.steps) }))
        }
      }
      const hash = hashes[step.id] ?? ""
      const dependsOn = deps.get(step.id) ?? []
      if (step._tag === "LlmStep") {
        return {
          kind: "llm",
          id: step.id,
          name: step.name,
          engine: options?.engines?.[step.id] ?? step.engine,
          sampling: step.sampling,
          system: step.system?.text,
          prompt: step.prompt.text,
          fields: [...new Set([...(step.system ? Template.fields(step.system) : []), ...Template.fields(step.prompt)])],
          repair: step.repair,
          retry: step.retry,
          input: jsonSchema(step.input),
          output: jsonSchema(step.output),
          dependsOn,
          hash
        }
      }
      return {
        kind: "apply",
        id: step.id,
        name: step.name,
        batch: step.batch,
        batchSize: step.batchSize,
        input: step.input === undefined ? undefined : jsonSchema(step.input),
        output: step.output === undefined ? undefined : jsonSchema(step.output),
        dependsOn,
        hash
      }
    })
  const described = describeLine(self.steps)
  return { name: self.name, steps: described, hashes, hash: hashText(JSON.stringify(hashes)) }
}

/**
 * Draws a chain as a Mermaid flowchart: LLM steps as rectangles (with their engine), pure steps as hexagons,
 * branches as subgraphs (an aliased branch shows its alias), edges in execution order.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const diagram = Chain.toMermaid(chain) // "graph TD\n  start([\"▶ …\"])\n…"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toMermaid = (self: Chain): string => {
  const lines = ["graph TD", `  start(["▶ ${escapeMermaid(self.name)}"])`]
  const edges: Array<string> = []
  const node = (step: LlmStep | ApplyStep, indent: string) => {
    const label = escapeMermaid(
      step._tag === "LlmStep"
        ? `${step.id}${step.name !== step.id ? `: ${step.name}` : ""}${step.engine ? ` · ${step.engine}` : ""}`
        : `${step.id}${step.name !== step.id ? `: ${step.name}` : ""}${step.batch ? " · batch" : ""}`
    )
    lines.push(step._tag === "LlmStep" ? `${indent}s_${step.id}["${label}"]` : `${indent}s_${step.id}{{"${label}"}}`)
  }
  let group = 0
  const walk = (line: ReadonlyArray<Step>, from: ReadonlyArray<string>, indent: string): ReadonlyArray<string> => {
    let prev = from
    for (const step of line) {
      if (isParallel(step)) {
        const ends: Array<string> = []
        for (const b of step) {
          const id = `b${group++}_${b.name.replace(/[^A-Za-z0-9_]/g, "_")}`
          lines.push(`${indent}subgraph ${id}["${escapeMermaid(b.name + (b.alias ? ` ⇒ {{${b.alias}}}` : ""))}"]`)
          ends.push(...walk(b.steps, prev, indent + "  "))
          lines.push(`${indent}end`)
        }
        prev = ends
      } else {
        node(step, indent)
        for (const p of prev) edges.push(`  ${p} --> s_${step.id}`)
        prev = [`s_${step.id}`]
      }
    }
    return prev
  }
  const ends = walk(self.steps, ["start"], "  ")
  lines.push(`  done(["■ end"])`)
  for (const p of ends) edges.push(`  ${p} --> done`)
  const applies = flatSteps(self).filter((s) => s._tag === "ApplyStep").map((s) => `s_${s.id}`)
  lines.push(...edges)
  if (applies.length > 0) {
    lines.push("  classDef pure fill:#f1f8e9,stroke:#558b2f,color:#33691e")
    lines.push(`  class ${applies.join(",")} pure`)
  }
  return lines.join("\n") + "\n"
}

/**
 * Draws a chain as a plain-text tree: each step with its kind (`llm` with its engine, `apply`), parallel branches
 * under a `parallel` node, an aliased branch with its alias.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * console.log(Chain.toTree(chain))
 * // products
 * // ├── extract [llm · llama3]
 * // ├── parallel
 * // │   ├── fr ⇒ {{fr}}
 * // │   │   └── to_fr [llm · llama3]
 * // …
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toTree = (self: Chain): string => {
  const lines = [self.name]
  const label = (step: LlmStep | ApplyStep) =>
    step._tag === "LlmStep"
      ? `${step.id} [llm${step.engine ? ` · ${step.engine}` : ""}]${step.name !== step.id ? ` ${step.name}` : ""}`
      : `${step.id} [apply${step.batch ? " · batch" : ""}]${step.name !== step.id ? ` ${step.name}` : ""}`
  const walk = (line: ReadonlyArray<Step>, prefix: string) => {
    line.forEach((step, i) => {
      const last = i === line.length - 1
      const head = prefix + (last ? "└── " : "├── ")
      const next = prefix + (last ? "    " : "│   ")
      if (isParallel(step)) {
        lines.push(`${head}parallel`)
        step.forEach((b, j) => {
          const lastBranch = j === step.length - 1
          lines.push(`${next}${lastBranch ? "└── " : "├── "}${b.name}${b.alias ? ` ⇒ {{${b.alias}}}` : ""}`)
          walk(b.steps, next + (lastBranch ? "    " : "│   "))
        })
      } else {
        lines.push(head + label(step))
      }
    })
  }
  walk(self.steps, "")
  return lines.join("\n") + "\n"
}

// =============================================================================
// running
// =============================================================================

/**
 * Resolves the engine of every LLM step, held in the current `Scope`: the name (`engines` override, else the step's
 * `engine`) resolves through the `EngineRegistry` when one is provided and knows it, else to the `LanguageModel` in
 * context. Fails with `NoEngine` when a step has neither, `EngineFailed` when the registry cannot start the engine.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const sources = Effect.scoped(
 *   Effect.map(Chain.resolveEngines(chain), (engines) => [...engines.values()].map((e) => `${e.step}: ${e.source}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const resolveEngines = (
  self: Chain,
  engines?: Readonly<Record<string, string>> | undefined
): Effect.Effect<ReadonlyMap<string, ResolvedEngine>, ChainError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.serviceOption(EngineRegistry.EngineRegistry)
    const context = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const resolved = new Map<string, ResolvedEngine>()
    const started = new Map<string, LanguageModel.Service>()
    for (const step of flatSteps(self)) {
      if (step._tag !== "LlmStep") continue
      const name = engines?.[step.id] ?? step.engine
      if (name !== undefined && Option.isSome(registry) && registry.value.names.includes(name)) {
        let service = started.get(name)
        if (service === undefined) {
          service = yield* registry.value.get(name).pipe(
            Effect.mapError((cause) =>
              new ChainError({
                chain: self.name,
                step: step.id,
                reason: "EngineFailed",
                description: `engine "${name}" failed to start: ${cause.message}`,
                cause
              })
            )
          )
          started.set(name, service)
        }
        resolved.set(step.id, { step: step.id, name, source: "registry", service })
      } else if (Option.isSome(context)) {
        resolved.set(step.id, { step: step.id, name, source: "context", service: context.value })
      } else {
        const known = Option.isSome(registry) ? ` (the registry has: ${registry.value.names.join(", ")})` : ""
        return yield* new ChainError({
          chain: self.name,
          step: step.id,
          reason: "NoEngine",
          description: name === undefined
            ? "the step names no engine and there is no LanguageModel in context"
            : `no engine "${name}" in an EngineRegistry${known} and no LanguageModel in context`
        })
      }
    }
    return resolved
  })

/**
 * The configuration hash of every step, by id, as a run with these engine resolutions computes it: a hash of the
 * step's own configuration (prompts, schemas, sampling, engine, a pure step's function source) and of the hashes of
 * the steps it depends on, so a change re-runs that step and the steps after it.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const hashes = Chain.hashes(chain, (step) => step._tag === "LlmStep" ? step.engine : undefined)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const hashes = (
  self: Chain,
  engineOf: (step: LlmStep | ApplyStep) => string | undefined
): Readonly<Record<string, string>> => {
  const plan = Either.getOrUndefined(planOf(self))
  return plan === undefined ? {} : computeHashes(plan, engineOf)
}

/**
 * The key a run uses for a step's engine in its configuration hash: `registry:<name>` or `context`.
 *
 * @example
 * ```ts
 * import * as Chain from "sluice/Chain"
 *
 * declare const engines: ReadonlyMap<string, Chain.ResolvedEngine>
 * const keyOf = (id: string) => Chain.engineKey(engines.get(id))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const engineKey = (engine: ResolvedEngine | undefined): string | undefined =>
  engine === undefined ? undefined : engine.source === "registry" ? `registry:${engine.name}` : "context"

/**
 * Runs a chain over a stream of {@link Input}s and streams one {@link Result} per item, as items complete (not in
 * input order). Per-item failures are results, not stream failures; the stream fails only when the chain is invalid,
 * an engine is missing, or the inputs fail. Events go to `onEvent` as they happen. At most `concurrency` items are
 * in flight (plus bounded buffers), so memory stays constant over any number of items.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Chain from "sluice/Chain"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * declare const chain: Chain.Chain
 * const results = Chain.execute(chain, Stream.make({ id: "a", index: 0, data: { text: "hi" } }), { concurrency: 4 }).pipe(
 *   Stream.runCollect,
 *   Effect.provide(DryRun.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const execute = <E, R>(
  self: Chain,
  inputs: Stream.Stream<Input, E, R>,
  options?: ExecuteOptions | undefined
): Stream.Stream<Result, E | ChainError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const plan = yield* planOf(self)
    const resolved = options?.resolved ?? (yield* resolveEngines(self, options?.engines))
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const clock = yield* Effect.clock
    const limits = new Map<string, Effect.Semaphore>()
    for (const [name, n] of Object.entries(options?.engineConcurrency ?? {})) {
      limits.set(name, yield* Effect.makeSemaphore(Math.max(1, Math.floor(n))))
    }
    const ctx: Context = {
      chain: self.name,
      runId,
      clock,
      emit: options?.onEvent,
      engines: resolved,
      limits,
      retry: Math.max(0, options?.retry ?? Retry.defaultTimes),
      engineRetry: options?.engineRetry ?? {},
      retryDelayMs: Math.max(0, options?.retryDelayMs ?? 500)
    }
    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 16))
    const stop = options?.stop
    let items: Stream.Stream<ItemState, E, R> = Stream.map(
      stop === undefined ? inputs : Stream.interruptWhen(inputs, stop),
      makeItem
    )
    for (const segment of plan.segments) {
      items = segment._tag === "Line"
        ? Concurrency.mapEffect(items, (item) => runSegment(segment.line, item, ctx), {
          concurrency,
          ordered: false,
          stop
        })
        : Stream.mapChunksEffect(
          Stream.rechunk(items, segment.step.step._tag === "ApplyStep" ? segment.step.step.batchSize : 64),
          (chunk) => runBatch(segment.step, chunk, ctx)
        )
    }
    return Stream.map(items, (item) => toResult(item, plan))
  }))

/**
 * A chain as a `Pipeline` of one whole-stream step (`chain`) from {@link Input}s to {@link Result}s, to compose
 * with other pipeline steps (filters, batches, checkpoints) and run with the pipeline's metadata and events.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Chain from "sluice/Chain"
 *
 * declare const chain: Chain.Chain
 * const complete = Chain.toPipeline(chain, { concurrency: 32 }).filter("complete", (r) => r.status === "complete")
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toPipeline = (
  self: Chain,
  options?: ExecuteOptions | undefined
): Pipeline.Pipeline<Input, Result, ChainError, never, "chain"> =>
  Pipeline.start<Input>({ name: self.name }).add("chain", ({ input }) => execute(self, input, options))

/**
 * Streams the events of a run of a chain over inputs (see the module description): `RunStart`, per item and step
 * `StepStart`, `StepEnd` (with the step's JSON output and token usage) or `StepError`, `Retry` before a retry, then
 * `RunEnd`. Item failures do not fail the stream.
 *
 * @example
 * ```ts
 * import { Effect, Schema, Stream } from "effect"
 * import * as Chain from "sluice/Chain"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * const chain = Chain.make({
 *   name: "tag",
 *   steps: [Chain.llm({ id: "tag", input: Schema.Struct({ text: Schema.String }), output: Schema.Struct({ tag: Schema.String }), prompt: "Tag: {{text}}" })]
 * })
 * const program = Chain.stream(chain, [{ text: "a" }, { text: "b" }]).pipe(
 *   Stream.runForEach((event) => Effect.log(event._tag, event.path)),
 *   Effect.provide(DryRun.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const stream = <I, O, E = never, R = never>(
  self: Chain<I, O>,
  inputs: Inputs<unknown, E, R>,
  options?: RunOptions | undefined
): Stream.Stream<Event.Event, E | ChainError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const runId = options?.runId ?? (yield* Node.makeRunId)
    const mailbox = yield* Mailbox.make<Event.Event, E | ChainError>(1024)
    const start = yield* Clock.currentTimeMillis
    const origin = (timestamp: number): Event.Origin => ({ runId, path: [self.name], timestamp })
    yield* mailbox.offer({ _tag: "RunStart", ...origin(start), name: self.name })
    let index = 0
    const items = Stream.map(toStream(inputs), (data): Input => ({ id: String(index), index: index++, data }))
    const onEvent = (event: Event.Event): Effect.Effect<void> =>
      mailbox.unsafeOffer(event) ? Effect.void : Effect.asVoid(mailbox.offer(event))
    yield* execute(self, items, { ...options, runId, onEvent }).pipe(
      Stream.runDrain,
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          const end = yield* Clock.currentTimeMillis
          const status = Exit.isSuccess(exit) ? "success" : Exit.isInterrupted(exit) ? "interrupted" : "failure"
          const event: Event.Event = { _tag: "RunEnd", ...origin(end), status, durationMs: end - start }
          // interrupted: the consumer may be gone, so never wait for room in the mailbox
          if (status === "interrupted") mailbox.unsafeOffer(event)
          else yield* mailbox.offer(event)
          yield* mailbox.done(Exit.asVoid(exit))
        })
      ),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  }))

/**
 * Runs a chain over inputs and returns one {@link Output} per input, in input order, by consuming {@link stream}.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as Chain from "sluice/Chain"
 * import * as DryRun from "sluice/engines/DryRun"
 *
 * const Number_ = Schema.Struct({ value: Schema.Number })
 * const chain = Chain.make({ name: "inc", steps: [Chain.apply("inc", (n: { value: number }) => ({ value: n.value + 1 }), { output: Number_ })] })
 * const program = Chain.run(chain, [{ value: 1 }, { value: 2 }]) // [{ status: "complete", output: { value: 2 } }, …]
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <I, O, E = never, R = never>(
  self: Chain<I, O>,
  inputs: Inputs<unknown, E, R>,
  options?: RunOptions | undefined
): Effect.Effect<Array<Output<O>>, E | ChainError, R> =>
  Effect.gen(function*() {
    const plan = yield* planOf(self)
    const byItem = new Map<number, { outputs: Record<string, unknown>; failure?: Output<O>["failure"] }>()
    const entry = (index: number) => {
      let e = byItem.get(index)
      if (e === undefined) {
        e = { outputs: {} }
        byItem.set(index, e)
      }
      return e
    }
    yield* Stream.runForEach(stream(self, inputs, options), (event) =>
      Effect.sync(() => {
        if (event._tag === "StepEnd" && event.item !== undefined) {
          const e = entry(event.item)
          if (event.output !== undefined) e.outputs[event.path[event.path.length - 1]!] = event.output
        } else if (event._tag === "StepError" && event.item !== undefined) {
          entry(event.item).failure = {
            step: event.path[event.path.length - 1]!,
            error: event.error,
            message: event.message
          }
        } else if (event._tag === "StepStart" && event.item !== undefined) {
          entry(event.item)
        }
      }))
    const last = plan.last
    const decode = last?.step.output === undefined ? undefined : Schema.decodeUnknownEither(last.step.output)
    const results: Array<Output<O>> = []
    const indexes = [...byItem.keys()].sort((a, b) => a - b)
    for (const index of indexes) {
      const e = byItem.get(index)!
      const final = last === undefined ? undefined : e.outputs[last.step.id]
      const status = e.failure !== undefined ? "failed" : final !== undefined ? "complete" : "filtered"
      let output: O | undefined = undefined
      if (status === "complete") {
        if (decode === undefined) output = final as O
        else {
          const decoded = decode(final)
          output = (Either.isRight(decoded) ? decoded.right : final) as O
        }
      }
      results.push({ index, status, output, outputs: e.outputs, failure: e.failure })
    }
    return results
  })

// =============================================================================
// internal: the plan
// =============================================================================

interface Resolved {
  readonly source: "input" | "row" | "output"
  readonly key: string
  readonly path: ReadonlyArray<string>
}

interface PlanStep {
  readonly _tag: "Step"
  readonly step: LlmStep | ApplyStep
  readonly deps: ReadonlyArray<string>
  readonly config: string
  readonly decode: ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined
  readonly encode: ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined
  readonly llm: LlmPlan | undefined
}

interface LlmPlan {
  readonly prompt: (vars: Vars) => string
  readonly system: ((vars: Vars) => string) | undefined
  readonly format: StructuredOutput.Format
}

interface PlanGroup {
  readonly _tag: "Group"
  readonly branches: ReadonlyArray<{
    readonly name: string
    readonly alias: string | undefined
    readonly line: ReadonlyArray<PlanNode>
  }>
}

type PlanNode = PlanStep | PlanGroup

type Segment =
  | { readonly _tag: "Line"; readonly line: ReadonlyArray<PlanNode> }
  | { readonly _tag: "Batch"; readonly step: PlanStep }

interface Plan {
  readonly name: string
  readonly line: ReadonlyArray<PlanNode>
  readonly steps: ReadonlyArray<PlanStep>
  readonly segments: ReadonlyArray<Segment>
  readonly last: PlanStep | undefined
  readonly aliases: ReadonlyMap<string, string | undefined>
}

const plans = new WeakMap<object, Either.Either<Plan, ChainError>>()

const planOf = (self: Chain): Either.Either<Plan, ChainError> =>
  plans.get(self) ?? Either.left(
    new ChainError({ chain: String(self.name), reason: "Empty", description: "not a chain made by Chain.make" })
  )

const RESERVED = new Set(["chain_input", "flattened", "errors"])
const ID = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/

const isParallel = (step: Step): step is ReadonlyArray<Branch> => Array.isArray(step)

interface Vars {
  readonly input: unknown
  readonly item: ItemState
}

/** What a template name in scope stands for: its schema (undefined: unknown shape) and the step it comes from. */
interface ScopeEntry {
  readonly ast: AST.AST | undefined
  readonly step: string
}

const compile = (name: string, line: ReadonlyArray<Step>): Either.Either<Plan, ChainError> => {
  const all: Array<PlanStep> = []
  const ids = new Set<string>()
  const aliases = new Map<string, string | undefined>()
  const firstInput = firstInputSchema(line)
  let error: ChainError | undefined

  const claim = (id: string, what: string): boolean => {
    if (error !== undefined) return false
    if (!ID.test(id) || RESERVED.has(id)) {
      error = new ChainError({
        chain: name,
        step: id,
        reason: "InvalidId",
        description: RESERVED.has(id)
          ? `"${id}" is reserved (chain_input, flattened, errors)`
          : `${what} "${id}" must be letters, digits, "_" or "-"`
      })
      return false
    }
    if (ids.has(id)) {
      error = new ChainError({
        chain: name,
        step: id,
        reason: "DuplicateId",
        description: `two steps or aliases are named "${id}"`
      })
      return false
    }
    ids.add(id)
    return true
  }

  const walk = (
    steps: ReadonlyArray<Step>,
    scope: Map<string, ScopeEntry>,
    prev: PlanStep | undefined,
    where: string
  ): { readonly line: Array<PlanNode>; readonly last: PlanStep | undefined } | undefined => {
    if (steps.length === 0) {
      error ??= new ChainError({ chain: name, reason: "Empty", description: `${where} has no step` })
      return undefined
    }
    const out: Array<PlanNode> = []
    let last = prev
    for (const step of steps) {
      if (error !== undefined) return undefined
      if (isParallel(step)) {
        if (step.length === 0) {
          error = new ChainError({
            chain: name,
            reason: "Empty",
            description: `a list of branches in ${where} is empty`
          })
          return undefined
        }
        const branches: Array<PlanGroup["branches"][number]> = []
        const joined: Array<[string, ScopeEntry]> = []
        for (const b of step) {
          const inner = walk(b.steps, new Map(scope), last, `branch "${b.name}"`)
          if (inner === undefined) return undefined
          branches.push({ name: b.name, alias: b.alias, line: inner.line })
          if (b.alias !== undefined) {
            const end = inner.last
            // a branch may be aliased under the id of its own last step (both name the same value)
            if (b.alias !== end?.step.id && !claim(b.alias, "branch alias")) return undefined
            aliases.set(b.alias, end?.step.id)
            joined.push([b.alias, {
              ast: end?.step.output === undefined ? undefined : end.step.output.ast,
              step: end?.step.id ?? ""
            }])
          }
        }
        for (const [alias, entry] of joined) scope.set(alias, entry)
        out.push({ _tag: "Group", branches })
        continue
      }
      if (!claim(step.id, "step id")) return undefined
      const compiled = compileStep(name, step, scope, last, firstInput)
      if (Either.isLeft(compiled)) {
        error = compiled.left
        return undefined
      }
      all.push(compiled.right)
      out.push(compiled.right)
      scope.set(step.id, { ast: step.output === undefined ? undefined : step.output.ast, step: step.id })
      last = compiled.right
    }
    return { line: out, last }
  }

  const root = walk(line, new Map(), undefined, "the chain")
  if (error !== undefined) return Either.left(error)
  if (root === undefined) {
    return Either.left(new ChainError({ chain: name, reason: "Empty", description: "the chain has no step" }))
  }
  let mainLast: PlanStep | undefined
  for (const node of root.line) if (node._tag === "Step") mainLast = node
  return Either.right({
    name,
    line: root.line,
    steps: all,
    segments: segment(root.line),
    last: mainLast,
    aliases
  })
}

const firstInputSchema = (line: ReadonlyArray<Step>): AST.AST | undefined => {
  const first = line[0]
  if (first === undefined || isParallel(first)) return undefined
  return first.input?.ast
}

const compileStep = (
  chain: string,
  step: LlmStep | ApplyStep,
  scope: ReadonlyMap<string, ScopeEntry>,
  prev: PlanStep | undefined,
  rowAst: AST.AST | undefined
): Either.Either<PlanStep, ChainError> => {
  const deps = new Set<string>()
  if (prev !== undefined) deps.add(prev.step.id)
  if (prev?.step.output !== undefined && step.input !== undefined) {
    const problem = mismatch(prev.step.output.ast, step.input.ast)
    if (problem !== undefined) {
      return Either.left(
        new ChainError({
          chain,
          step: step.id,
          reason: "IncompatibleInput",
          description: `its input schema cannot accept the output of "${prev.step.id}": ${problem}`
        })
      )
    }
  }
  const decode = step.input === undefined ? undefined : Schema.decodeUnknownEither(step.input, { errors: "all" })
  const encode = step.output === undefined ? undefined : Schema.encodeUnknownEither(step.output)
  if (step._tag === "ApplyStep") {
    for (const [, entry] of scope) if (entry.step !== "" && !deps.has(entry.step)) deps.add(entry.step)
    return Either.right({
      _tag: "Step",
      step,
      deps: [...deps],
      config: stableJson({
        kind: "apply",
        id: step.id,
        batch: step.batch,
        source: step.source,
        input: step.input === undefined ? null : jsonSchema(step.input),
        output: step.output === undefined ? null : jsonSchema(step.output)
      }),
      decode,
      encode,
      llm: undefined
    })
  }
  const templates: Array<[string, Template.Template]> = [["prompt", step.prompt]]
  if (step.system !== undefined) templates.push(["system", step.system])
  const renderers: Array<(vars: Vars) => string> = []
  for (const [which, template] of templates) {
    const parsed = Template.parse(template.text)
    if (Either.isLeft(parsed)) {
      return Either.left(
        new ChainError({
          chain,
          step: step.id,
          reason: "InvalidTemplate",
          description: `${which}: ${parsed.left.message}`
        })
      )
    }
    const resolved: Array<Resolved> = []
    for (const ref of Template.references(template)) {
      const r = resolveRef(chain, step, ref, scope, rowAst)
      if (Either.isLeft(r)) return Either.left(r.left)
      resolved.push(r.right)
      if (r.right.source === "output") deps.add(scope.get(r.right.key)!.step)
    }
    renderers.push(makeRenderer(template, resolved))
  }
  const [renderPrompt, renderSystem] = renderers as [(vars: Vars) => string, ((vars: Vars) => string) | undefined]
  const format: StructuredOutput.Format = {
    objectName: step.id.replace(/[^A-Za-z0-9_-]/g, "_"),
    schema: step.output
  }
  return Either.right({
    _tag: "Step",
    step,
    deps: [...deps],
    config: stableJson({
      kind: "llm",
      id: step.id,
      prompt: step.prompt.text,
      system: step.system?.text ?? null,
      sampling: step.sampling ?? null,
      repair: step.repair,
      input: jsonSchema(step.input),
      output: jsonSchema(step.output)
    }),
    decode,
    encode,
    llm: {
      prompt: renderPrompt,
      system: renderSystem,
      format
    }
  })
}

const resolveRef = (
  chain: string,
  step: LlmStep,
  ref: Template.Reference,
  scope: ReadonlyMap<string, ScopeEntry>,
  rowAst: AST.AST | undefined
): Either.Either<Resolved, ChainError> => {
  const [head, ...rest] = ref.path as [string, ...Array<string>]
  const unknown = (description: string) =>
    Either.left(new ChainError({ chain, step: step.id, reason: "UnknownField", field: ref.name, description }))
  if (head === "chain_input" && rest.length > 0) {
    if (rowAst !== undefined && hasPath(rowAst, rest, 0) === false) {
      return unknown(`the chain's input has no field "${rest.join(".")}" (fields: ${fieldNames(rowAst)})`)
    }
    return Either.right({ source: "row", key: "", path: rest })
  }
  const inScope = scope.get(head)
  if (rest.length > 0 && inScope !== undefined) {
    if (inScope.ast !== undefined && hasPath(inScope.ast, rest, 0) === false) {
      return unknown(`"${head}" has no field "${rest.join(".")}" (fields: ${fieldNames(inScope.ast)})`)
    }
    return Either.right({ source: "output", key: head, path: rest })
  }
  if (hasPath(step.input.ast, ref.path, 0) !== false) return Either.right({ source: "input", key: "", path: ref.path })
  if (inScope !== undefined) return Either.right({ source: "output", key: head, path: [] })
  const names = [...scope.keys()]
  return unknown(
    `the input schema has no field "${ref.name}" (fields: ${fieldNames(step.input.ast)})` +
      (names.length > 0 ? `; earlier steps and aliases: ${names.join(", ")}` : "")
  )
}

const makeRenderer = (template: Template.Template, resolved: ReadonlyArray<Resolved>): (vars: Vars) => string => {
  const parts: Array<string | Resolved> = []
  let r = 0
  for (const part of template.parts) parts.push(typeof part === "string" ? part : resolved[r++]!)
  return (vars) => {
    let out = ""
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!
      if (typeof part === "string") {
        out += part
        continue
      }
      const base = part.source === "input"
        ? vars.input
        : part.source === "row"
        ? vars.item.row
        : vars.item.outputs[part.key]
      out += Template.format(Template.lookup(base, part.path))
    }
    return out
  }
}

/** Whether a schema has a path: `true`, `false`, or `undefined` when the schema does not say (unknown, any, …). */
const hasPath = (ast: AST.AST, path: ReadonlyArray<string>, depth: number): boolean | undefined => {
  if (path.length === 0) return true
  if (depth > 32) return undefined
  const [head, ...rest] = path as [string, ...Array<string>]
  switch (ast._tag) {
    case "TypeLiteral": {
      const ps = ast.propertySignatures.find((p) => p.name === head)
      if (ps !== undefined) return hasPath(ps.type, rest, depth + 1)
      for (const index of ast.indexSignatures) {
        if (AST.isStringKeyword(index.parameter) || AST.isTemplateLiteral(index.parameter)) {
          return hasPath(index.type, rest, depth + 1)
        }
      }
      return false
    }
    case "Union": {
      let unknown = false
      for (const member of ast.types) {
        const found = hasPath(member, path, depth + 1)
        if (found === true) return true
        if (found === undefined) unknown = true
      }
      return unknown ? undefined : false
    }
    case "Transformation": {
      const to = hasPath(ast.to, path, depth + 1)
      if (to === true) return true
      const from = hasPath(ast.from, path, depth + 1)
      return from === true ? true : to === undefined || from === undefined ? undefined : false
    }
    case "Refinement":
      return hasPath(ast.from, path, depth + 1)
    case "Suspend":
      return hasPath(ast.f(), path, depth + 1)
    case "TupleType": {
      if (!/^\d+$/.test(head)) return false
      const element = ast.elements[Number(head)]
      if (element !== undefined) return hasPath(element.type, rest, depth + 1)
      const restType = ast.rest[0]
      return restType === undefined ? false : hasPath(restType.type, rest, depth + 1)
    }
    case "UnknownKeyword":
    case "AnyKeyword":
    case "ObjectKeyword":
    case "Declaration":
      return undefined
    default:
      return false
  }
}

const fieldNames = (ast: AST.AST): string => {
  const names = propertyNames(ast, 0)
  return names === undefined ? "unknown" : names.length === 0 ? "none" : names.join(", ")
}

const propertyNames = (ast: AST.AST, depth: number): ReadonlyArray<string> | undefined => {
  if (depth > 32) return undefined
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.map((p) => String(p.name))
    case "Transformation":
      return propertyNames(ast.to, depth + 1) ?? propertyNames(ast.from, depth + 1)
    case "Refinement":
      return propertyNames(ast.from, depth + 1)
    case "Suspend":
      return propertyNames(ast.f(), depth + 1)
    case "Union": {
      const all = new Set<string>()
      for (const member of ast.types) for (const name of propertyNames(member, depth + 1) ?? []) all.add(name)
      return [...all]
    }
    default:
      return undefined
  }
}

const segment = (line: ReadonlyArray<PlanNode>): ReadonlyArray<Segment> => {
  const out: Array<Segment> = []
  let current: Array<PlanNode> = []
  for (const node of line) {
    if (node._tag === "Step" && node.step._tag === "ApplyStep" && node.step.batch) {
      if (current.length > 0) out.push({ _tag: "Line", line: current })
      current = []
      out.push({ _tag: "Batch", step: node })
    } else {
      current.push(node)
    }
  }
  if (current.length > 0) out.push({ _tag: "Line", line: current })
  return out
}

const computeHashes = (
  plan: Plan,
  engineOf: (step: LlmStep | ApplyStep) => string | undefined
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const s of plan.steps) {
    const deps = s.deps.map((d) => `${d}=${out[d] ?? ""}`).join(",")
    out[s.step.id] = hashText(`${s.config}|engine=${engineOf(s.step) ?? ""}|deps=${deps}`)
  }
  return out
}

// =============================================================================
// internal: running
// =============================================================================

interface Context {
  readonly chain: string
  readonly runId: string
  readonly clock: Clock.Clock
  readonly emit: ((event: Event.Event) => Effect.Effect<void>) | undefined
  readonly engines: ReadonlyMap<string, ResolvedEngine>
  readonly limits: ReadonlyMap<string, Effect.Semaphore>
  readonly retry: number
  readonly engineRetry: Readonly<Record<string, number>>
  readonly retryDelayMs: number
}

interface ItemState {
  readonly id: string
  readonly index: number
  readonly row: unknown
  readonly outputs: Record<string, unknown>
  readonly done: Readonly<Record<string, unknown>> | undefined
  readonly computed: Array<string>
  current: unknown
  status: "running" | "complete" | "filtered" | "failed"
  filteredBy: string | undefined
  failure: Failure | undefined
}

const makeItem = (input: Input): ItemState => ({
  id: input.id,
  index: input.index,
  row: input.data,
  outputs: { chain_input: input.data },
  done: input.done,
  computed: [],
  current: input.data,
  status: "running",
  filteredBy: undefined,
  failure: undefined
})

const toResult = (item: ItemState, plan: Plan): Result => {
  if (item.status === "running") item.status = "complete"
  const { chain_input: _, ...outputs } = item.outputs
  return {
    id: item.id,
    index: item.index,
    input: item.row,
    status: item.status as Result["status"],
    outputs,
    computed: item.computed,
    output: item.status === "complete" && plan.last !== undefined ? item.outputs[plan.last.step.id] : undefined,
    filteredBy: item.filteredBy,
    failure: item.failure
  }
}

interface StepValue {
  readonly value: unknown
  readonly usage: Event.Usage | undefined
}

const Filtered: unique symbol = Symbol.for("sluice/Chain/Filtered")
const Failed: unique symbol = Symbol.for("sluice/Chain/Failed")
type Stop = typeof Filtered | typeof Failed

const runSegment = (line: ReadonlyArray<PlanNode>, item: ItemState, ctx: Context): Effect.Effect<ItemState> =>
  item.status !== "running" ? Effect.succeed(item) : Effect.map(runLine(line, item.current, item, ctx), (out) => {
    if (out === Filtered) {
      if (item.status === "running") item.status = "filtered"
    } else if (out === Failed) {
      item.status = "failed"
    } else {
      item.current = out
    }
    return item
  })

const runLine = (
  line: ReadonlyArray<PlanNode>,
  input: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | Stop> =>
  Effect.suspend(() => {
    let i = 0
    const next = (current: unknown): Effect.Effect<unknown | Stop> => {
      if (current === Filtered || current === Failed || i >= line.length) return Effect.succeed(current)
      const node = line[i++]!
      if (node._tag === "Step") return Effect.flatMap(runStep(node, current, item, ctx), next)
      return Effect.flatMap(
        Effect.forEach(node.branches, (b) => runLine(b.line, current, item, ctx), { concurrency: "unbounded" }),
        (results) => {
          if (item.status === "failed" || results.some((r) => r === Failed)) return Effect.succeed(Failed)
          node.branches.forEach((b, j) => {
            const r = results[j]
            if (b.alias !== undefined && r !== Filtered) item.outputs[b.alias] = r
          })
          return next(current)
        }
      )
    }
    return next(input)
  })

const origin = (ctx: Context, step: string): Event.Origin => ({
  runId: ctx.runId,
  path: [ctx.chain, step],
  timestamp: ctx.clock.unsafeCurrentTimeMillis()
})

const emit = (ctx: Context, event: Event.Event): Effect.Effect<void> =>
  ctx.emit === undefined ? Effect.void : ctx.emit(event)

const runStep = (node: PlanStep, input: unknown, item: ItemState, ctx: Context): Effect.Effect<unknown | Stop> => {
  const step = node.step
  if (item.done !== undefined && Object.hasOwn(item.done, step.id)) {
    const value = item.done[step.id]
    item.outputs[step.id] = value
    return Effect.succeed(value)
  }
  const start = origin(ctx, step.id)
  let tries = 0
  const attempt = (): Effect.Effect<StepValue | Stop, unknown> =>
    Effect.suspend((): Effect.Effect<StepValue | Stop, unknown> => {
      tries++
      const decoded = node.decode === undefined ? Either.right(input) : node.decode(input)
      if (Either.isLeft(decoded)) {
        return Effect.fail(
          invalidInput(ctx, step.id, item.index, decoded.left)
        )
      }
      if (step._tag === "ApplyStep") {
        return Effect.map(
          applyOne(node, step, decoded.right, item, ctx),
          (value) => value === Filtered ? Filtered : { value, usage: undefined }
        )
      }
      return callLlm(node, decoded.right, item, ctx)
    })
  const retries = step._tag === "LlmStep" ? retriesOf(step, ctx) : 0
  const tries_ = retries <= 0 ? attempt() : Retry.effect(attempt(), {
    schedule: EngineError.retrySchedule({ times: retries, base: ctx.retryDelayMs }),
    while: (error) => Retry.isRetryable(error) && !isChainErrorInput(error)
  }, ({ attempt, delayMs, error }) =>
    emit(ctx, {
      _tag: "Retry",
      ...origin(ctx, step.id),
      attempt,
      error: Node.errorTag(error),
      message: Node.errorMessage(error),
      delayMs
    }))
  return emit(ctx, { _tag: "StepStart", ...start, item: item.index }).pipe(
    Effect.zipRight(tries_),
    Effect.matchCauseEffect({
      onSuccess: (result) => {
        if (result === Filtered) {
          item.filteredBy = step.id
          const end = origin(ctx, step.id)
          return Effect.as(
            emit(ctx, { _tag: "StepEnd", ...end, durationMs: end.timestamp - start.timestamp, item: item.index }),
            Filtered
          )
        }
        if (result === Failed) return Effect.succeed(Failed)
        item.outputs[step.id] = result.value
        item.computed.push(step.id)
        const end = origin(ctx, step.id)
        const fields = {
          durationMs: end.timestamp - start.timestamp,
          item: item.index,
          output: result.value,
          ...(result.usage === undefined ? {} : { usage: result.usage })
        }
        return Effect.as(emit(ctx, { _tag: "StepEnd", ...end, ...fields }), result.value)
      },
      onFailure: (cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
        const failure = Cause.failureOption(cause)
        const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
        const tag = Option.isSome(failure) ? Node.errorTag(error) : "Defect"
        const message = Option.isSome(failure) ? Node.errorMessage(error) : Cause.pretty(cause)
        const retryable = Option.isSome(failure) ? Retry.isRetryable(error) : false
        item.status = "failed"
        item.failure = { step: step.id, error: tag, message, retryable, tries, cause: error }
        return Effect.as(
          emit(ctx, { _tag: "StepError", ...origin(ctx, step.id), error: tag, message, retryable, item: item.index }),
          Failed
        )
      }
    })
  )
}

/** The retries of an LLM step: its own, else its engine's (`engineRetry`), else the run's (default 2). */
const retriesOf = (step: LlmStep, ctx: Context): number => {
  if (step.retry >= 0) return step.retry
  const engine = ctx.engines.get(step.id)?.name
  const byEngine = engine === undefined ? undefined : ctx.engineRetry[engine]
  return byEngine === undefined ? ctx.retry : Math.max(0, Math.floor(byEngine))
}

const isChainErrorInput = (error: unknown): boolean =>
  Predicate.hasProperty(error, "_tag") && error._tag === "ChainError"

const applyOne = (
  node: PlanStep,
  step: ApplyStep,
  input: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | typeof Filtered, ChainError> =>
  Effect.flatMap(
    Effect.try({
      try: () => step.fn([input], [{ id: item.id, index: item.index, vars: item.outputs }]),
      catch: (cause) =>
        new ChainError({
          chain: ctx.chain,
          step: step.id,
          reason: "ApplyFailed",
          item: item.index,
          description: Node.errorMessage(cause),
          cause
        })
    }),
    (results) => {
      if (Array.isArray(results) && results.length === 0) return Effect.succeed(Filtered)
      if (!Array.isArray(results) || results.length !== 1) {
        return Effect.fail(
          new ChainError({
            chain: ctx.chain,
            step: step.id,
            reason: "InvalidOutput",
            item: item.index,
            description:
              `a batch step must return one result per input, or a subset of its inputs in order (1 input, got ${
                Array.isArray(results) ? `${results.length} results` : typeof results
              })`
          })
        )
      }
      return encodeOutput(node, results[0], item, ctx)
    }
  )

const encodeOutput = (
  node: PlanStep,
  value: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<unknown | typeof Filtered, ChainError> => {
  if (value === undefined) return Effect.succeed(Filtered)
  if (node.encode === undefined) return Effect.succeed(value)
  const encoded = node.encode(value)
  return Either.isRight(encoded) ? Effect.succeed(encoded.right) : Effect.fail(
    new ChainError({
      chain: ctx.chain,
      step: node.step.id,
      reason: "InvalidOutput",
      item: item.index,
      description: ParseResult.TreeFormatter.formatErrorSync(encoded.left),
      cause: encoded.left
    })
  )
}

const callLlm = (
  node: PlanStep,
  input: unknown,
  item: ItemState,
  ctx: Context
): Effect.Effect<StepValue, unknown> =>
  Effect.suspend(() => {
    const engine = ctx.engines.get(node.step.id)
    const plan = node.llm!
    const step = node.step as LlmStep
    if (engine === undefined) {
      return Effect.fail(
        new ChainError({
          chain: ctx.chain,
          step: step.id,
          reason: "NoEngine",
          description: "the step's engine was not resolved"
        })
      )
    }
    const service = engine.service
    const vars: Vars = { input, item }
    const user = plan.prompt(vars)
    const prompt = plan.system === undefined
      ? Prompt.make(user)
      : Prompt.make([{ role: "system", content: plan.system(vars) }, { role: "user", content: user }])
    const call = Structured.generate(service, {
      schema: step.output,
      format: plan.format,
      prompt,
      guided: "auto",
      repairs: step.repair,
      sampling: step.sampling,
      onRepair: (attempt, error) =>
        emit(ctx, {
          _tag: "Retry",
          ...origin(ctx, step.id),
          attempt: attempt.call,
          error: error._tag,
          message: error.message,
          delayMs: 0
        })
    })
    const limit = engine.name === undefined ? undefined : ctx.limits.get(engine.name)
    return (limit === undefined ? call : limit.withPermits(1)(call)).pipe(
      Effect.flatMap(({ usage, value }) =>
        Effect.map(encodeOutput(node, value, item, ctx), (encoded) => ({ value: encoded, usage }))
      )
    )
  })

/** The per-item error of an input that does not match a step's input schema. */
const invalidInput = (ctx: Context, step: string, item: number, error: ParseResult.ParseError): ChainError =>
  new ChainError({
    chain: ctx.chain,
    step,
    reason: "InvalidInput",
    item,
    description: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })

const runBatch = (node: PlanStep, chunk: Chunk.Chunk<ItemState>, ctx: Context): Effect.Effect<Chunk.Chunk<ItemState>> =>
  Effect.suspend(() => {
    const step = node.step as ApplyStep
    const pending: Array<ItemState> = []
    const inputs: Array<unknown> = []
    const effects: Array<Effect.Effect<void>> = []
    for (const item of chunk) {
      if (item.status !== "running") continue
      if (item.done !== undefined && Object.hasOwn(item.done, step.id)) {
        item.outputs[step.id] = item.done[step.id]
        item.current = item.done[step.id]
        continue
      }
      effects.push(emit(ctx, { _tag: "StepStart", ...origin(ctx, step.id), item: item.index }))
      const decoded = node.decode === undefined ? Either.right(item.current) : node.decode(item.current)
      if (Either.isLeft(decoded)) {
        fail(
          item,
          step.id,
          invalidInput(ctx, step.id, item.index, decoded.left),
          ctx,
          effects
        )
        continue
      }
      pending.push(item)
      inputs.push(decoded.right)
    }
    if (pending.length === 0) return Effect.as(Effect.all(effects, { discard: true }), chunk)
    const start = ctx.clock.unsafeCurrentTimeMillis()
    const results = Either.try({
      try: () => step.fn(inputs, pending.map((item) => ({ id: item.id, index: item.index, vars: item.outputs }))),
      catch: (cause) => cause
    })
    const duration = ctx.clock.unsafeCurrentTimeMillis() - start
    const aligned = Either.isRight(results) && Array.isArray(results.right)
      ? alignBatch(inputs, results.right as ReadonlyArray<unknown>)
      : undefined
    if (Either.isLeft(results) || aligned === undefined) {
      for (const item of pending) {
        const description = Either.isLeft(results)
          ? Node.errorMessage(results.left)
          : `a batch step must return one result per input, or a subset of its inputs in order (${pending.length} ${
            pending.length === 1 ? "input" : "inputs"
          }, got ${Array.isArray(results.right) ? `${results.right.length} results` : typeof results.right})`
        fail(
          item,
          step.id,
          new ChainError({
            chain: ctx.chain,
            step: step.id,
            reason: Either.isLeft(results) ? "ApplyFailed" : "InvalidOutput",
            item: item.index,
            description,
            ...(Either.isLeft(results) ? { cause: results.left } : {})
          }),
          ctx,
          effects
        )
      }
      return Effect.as(Effect.all(effects, { discard: true }), chunk)
    }
    pending.forEach((item, i) => {
      const value = aligned[i]
      if (value === undefined) {
        item.status = "filtered"
        item.filteredBy = step.id
        effects.push(emit(ctx, { _tag: "StepEnd", ...origin(ctx, step.id), durationMs: duration, item: item.index }))
        return
      }
      const encoded = node.encode === undefined ? Either.right(value) : node.encode(value)
      if (Either.isLeft(encoded)) {
        fail(
          item,
          step.id,
          new ChainError({
            chain: ctx.chain,
            step: step.id,
            reason: "InvalidOutput",
            item: item.index,
            description: ParseResult.TreeFormatter.formatErrorSync(encoded.left),
            cause: encoded.left
          }),
          ctx,
          effects
        )
        return
      }
      item.outputs[step.id] = encoded.right
      item.current = encoded.right
      item.computed.push(step.id)
      effects.push(
        emit(ctx, {
          _tag: "StepEnd",
          ...origin(ctx, step.id),
          durationMs: duration,
          item: item.index,
          output: encoded.right
        })
      )
    })
    return Effect.as(Effect.all(effects, { discard: true }), chunk)
  })

/**
 * The result of each input of a batch: one result per input (by position), or, for a shorter list, the inputs it
 * kept (the very values given, in order: Chainette's list-in/list-out filters), the others dropped. `undefined` when
 * the list is neither.
 */
const alignBatch = (
  inputs: ReadonlyArray<unknown>,
  results: ReadonlyArray<unknown>
): ReadonlyArray<unknown> | undefined => {
  if (results.length === inputs.length) return results
  if (results.length > inputs.length) return undefined
  const aligned: Array<unknown> = new Array(inputs.length).fill(undefined)
  let next = 0
  for (const result of results) {
    while (next < inputs.length && inputs[next] !== result) next++
    if (next === inputs.length) return undefined
    aligned[next++] = result
  }
  return aligned
}

const fail = (
  item: ItemState,
  step: string,
  error: ChainError,
  ctx: Context,
  effects: Array<Effect.Effect<void>>
): void => {
  item.status = "failed"
  item.failure = { step, error: error._tag, message: error.message, retryable: false, tries: 1, cause: error }
  effects.push(
    emit(ctx, {
      _tag: "StepError",
      ...origin(ctx, step),
      error: error._tag,
      message: error.message,
      retryable: false,
      item: item.index
    })
  )
}

const toStream = <A, E, R>(inputs: Inputs<A, E, R>): Stream.Stream<A, E, R> =>
  Predicate.hasProperty(inputs, Stream.StreamTypeId)
    ? inputs as Stream.Stream<A, E, R>
    : Symbol.asyncIterator in (inputs as object)
    ? Stream.fromAsyncIterable(inputs as AsyncIterable<A>, (e) => e as E)
    : Stream.fromIterable(inputs as Iterable<A>)

// =============================================================================
// internal: helpers
// =============================================================================

const jsonSchema = (schema: Schema.Schema.Any): unknown =>
  Either.getOrElse(
    Either.try(() => JSONSchema.make(schema as Schema.Schema<unknown, unknown>)),
    () => ({ description: `not expressible as JSON Schema: ${String(schema)}` })
  )

const stableJson = (value: unknown): string =>
  JSON.stringify(value, (_, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/** A 106-bit non-cryptographic hash (two 53-bit cyrb53 halves) as hex: stable across runs and platforms. */
const hashText = (text: string): string => {
  const half = (seed: number) => {
    let h1 = 0xdeadbeef ^ seed
    let h2 = 0x41c6ce57 ^ seed
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i)
      h1 = Math.imul(h1 ^ ch, 2654435761)
      h2 = Math.imul(h2 ^ ch, 1597334677)
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0")
  }
  return half(0) + half(0x9e3779b9)
}

/** Function source without formatting: the same code printed by different transpilers compares equal. */
const normalizeSource = (source: string): string =>
  source
    .replace(/\s+/g, "")
    .replace(/[;,]+(?=[}\])])/g, "")
    .replace(/\(([A-Za-z_$][\w$]*)\)=>/g, "$1=>")
    .replace(/['`]/g, "\"")

const escapeMermaid = (text: string): string => text.replace(/"/g, "#quot;")
