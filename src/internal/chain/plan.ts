/**
 * The plan of a chain: what `Chain.make` compiles its steps into (see `compile.ts`) and what a run executes
 * (`run.ts`): each LLM or pure step with its decoders, template renderers and configuration, the line of steps with
 * its parallel groups, and the segments a run streams through.
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import type * as Chain from "../../Chain.js"
import { ChainError } from "../../ChainError.js"
import type * as StructuredOutput from "../../StructuredOutput.js"

/** What a template variable reads: the step's input, the chain's input (`row`) or an output by step id or alias. */
export interface Resolved {
  readonly source: "input" | "row" | "output"
  readonly key: string
  readonly path: ReadonlyArray<string>
}

/** What a template renders from: the step's decoded input and the item's row and outputs. */
export interface Vars {
  readonly input: unknown
  readonly item: {
    readonly row: unknown
    readonly outputs: Readonly<Record<string, unknown>>
  }
}

/** An LLM or pure step, compiled. */
export interface PlanStep {
  readonly _tag: "Step"
  readonly step: Chain.LlmStep | Chain.ApplyStep
  readonly deps: ReadonlyArray<string>
  readonly config: string
  readonly decode: ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined
  readonly encode: ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined
  readonly llm: LlmPlan | undefined
}

/** The prompts and output format of an LLM step. */
export interface LlmPlan {
  readonly prompt: (vars: Vars) => string
  readonly system: ((vars: Vars) => string) | undefined
  readonly format: StructuredOutput.Format
}

/** A list of branches run in parallel. */
export interface PlanGroup {
  readonly _tag: "Group"
  readonly branches: ReadonlyArray<{
    readonly name: string
    readonly alias: string | undefined
    readonly line: ReadonlyArray<PlanNode>
  }>
}

export type PlanNode = PlanStep | PlanGroup

/** A run streams items through segments: lines of steps run per item, and batch steps run per chunk of items. */
export type Segment =
  | { readonly _tag: "Line"; readonly line: ReadonlyArray<PlanNode> }
  | { readonly _tag: "Batch"; readonly step: PlanStep }

export interface Plan {
  readonly name: string
  readonly line: ReadonlyArray<PlanNode>
  readonly steps: ReadonlyArray<PlanStep>
  readonly segments: ReadonlyArray<Segment>
  readonly last: PlanStep | undefined
  readonly aliases: ReadonlyMap<string, string | undefined>
}

const plans = new WeakMap<object, Either.Either<Plan, ChainError>>()

/** Records the plan (or the error) of a chain made by `Chain.make`. */
export const register = (self: Chain.Chain, plan: Either.Either<Plan, ChainError>): void => {
  plans.set(self, plan)
}

/** The plan of a chain, or its `ChainError`. */
export const planOf = (self: Chain.Chain): Either.Either<Plan, ChainError> =>
  plans.get(self) ?? Either.left(
    new ChainError({ chain: String(self.name), reason: "Empty", description: "not a chain made by Chain.make" })
  )

export const isParallel = (step: Chain.Step): step is ReadonlyArray<Chain.Branch> => Array.isArray(step)
