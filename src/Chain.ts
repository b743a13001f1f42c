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
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ChainError } from "./ChainError.js"
import type * as Event from "./Event.js"
import { compile } from "./internal/chain/compile.js"
import * as Engines from "./internal/chain/engines.js"
import * as Hash from "./internal/chain/hash.js"
import * as Plan from "./internal/chain/plan.js"
import * as Render from "./internal/chain/render.js"
import * as Run from "./internal/chain/run.js"
import * as Pipeline from "./Pipeline.js"
import type * as Sampling from "./Sampling.js"
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
    source: options?.version === undefined ? Hash.normalizeSource(String(fn)) : `version:${options.version}`
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
  Plan.register(self, compile(options.name, options.steps))
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
  Either.map(Plan.planOf(self), () => self)

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
export const flatSteps = (self: Chain): ReadonlyArray<LlmStep | ApplyStep> => Render.flatSteps(self.steps)

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
export const toGraphJson: (
  self: Chain,
  options?: { readonly engines?: Readonly<Record<string, string>> | undefined } | undefined
) => GraphJson = Render.toGraphJson

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
export const toMermaid: (self: Chain) => string = Render.toMermaid

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
export const toTree: (self: Chain) => string = Render.toTree

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
export const resolveEngines: (
  self: Chain,
  engines?: Readonly<Record<string, string>> | undefined
) => Effect.Effect<ReadonlyMap<string, ResolvedEngine>, ChainError, Scope.Scope> = Engines.resolveEngines

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
  const plan = Either.getOrUndefined(Plan.planOf(self))
  return plan === undefined ? {} : Hash.computeHashes(plan, engineOf)
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
export const execute: <E, R>(
  self: Chain,
  inputs: Stream.Stream<Input, E, R>,
  options?: ExecuteOptions | undefined
) => Stream.Stream<Result, E | ChainError, R> = Run.execute

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
export const stream: <I, O, E = never, R = never>(
  self: Chain<I, O>,
  inputs: Inputs<unknown, E, R>,
  options?: RunOptions | undefined
) => Stream.Stream<Event.Event, E | ChainError, R> = Run.stream

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
export const run: <I, O, E = never, R = never>(
  self: Chain<I, O>,
  inputs: Inputs<unknown, E, R>,
  options?: RunOptions | undefined
) => Effect.Effect<Array<Output<O>>, E | ChainError, R> = Run.collect
