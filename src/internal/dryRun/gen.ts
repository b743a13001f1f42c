/**
 * The shape of a compiled dry-run generator, shared by the `Schema` and JSON Schema compilers.
 *
 * @internal
 */
import type { Random } from "./leaves.js"

/** The state of one generation: its random source, and whether a part came from Effect's `Arbitrary`. */
export interface State {
  readonly random: Random
  tainted: boolean
}

/** A compiled generator: `depth` counts the recursive schemas entered. */
export type Gen = (state: State, depth: number) => unknown

/** Beyond this depth of recursion, lists are as short and unions as shallow as allowed, optional fields absent. */
export const SHALLOW = 3

/** Beyond this depth of recursion, generation gives up (the caller falls back to Effect's `Arbitrary`). */
export const DEEPEST = 24
