/**
 * Branches of a `Chain`: lines of steps run in parallel for each item. `Branch.make({ name, steps }).join("alias")`
 * makes a branch's final output available to later templates as `{{alias.field}}`. See `Chain` for the model.
 *
 * @since 0.1.0
 */
import * as Chain from "./Chain.js"

/**
 * A branch of a chain.
 *
 * @example
 * ```ts
 * import type * as Branch from "sluice/Branch"
 *
 * const name = (branch: Branch.Branch) => branch.alias ?? branch.name
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Branch = Chain.Branch

/**
 * Makes a branch from its name and its steps; `.join("alias")` names its final output for later templates.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Branch from "sluice/Branch"
 * import * as Chain from "sluice/Chain"
 *
 * const Attr = Schema.Struct({ brand: Schema.String, model: Schema.String })
 * const fr = Branch.make({
 *   name: "fr",
 *   steps: [Chain.llm({ id: "to_fr", input: Attr, output: Attr, prompt: "En français : {{brand}} {{model}}" })]
 * }).join("fr")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: { readonly name: string; readonly steps: ReadonlyArray<Chain.Step> }) => Branch =
  Chain.branch
