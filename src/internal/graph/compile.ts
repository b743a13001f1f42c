/**
 * A graph's steps as declared, and their compilation: the checks `Graph.validate` reports (entry, duplicate ids,
 * unknown targets, reachability, options) and what the scheduler needs precomputed (step indexes, barrier
 * predecessors and their ancestors).
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import type { Middleware, Options, RetryOptions, StepKind } from "../../Graph.js"
import { GraphError } from "../../GraphError.js"

/** A step as declared with `.step(id, options, body)`. */
export interface StepDefinition {
  readonly id: string
  readonly kind: StepKind
  readonly body: unknown
  readonly to: ReadonlyArray<string>
  readonly routes: ReadonlyArray<string>
  readonly retry: RetryOptions<unknown, unknown> | undefined
  readonly timeout: Duration.Duration | undefined
}

/** What a graph value holds. */
export interface GraphImpl {
  readonly name: string
  readonly options: Options<any>
  readonly definitions: ReadonlyArray<StepDefinition>
  readonly middleware: ReadonlyArray<Middleware<unknown, unknown>>
  readonly startup: Effect.Effect<unknown, unknown, unknown> | undefined
  readonly shutdown: ReadonlyArray<(context: unknown, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>>
  readonly entryStep: string | undefined
}

/** Per-field reducers of `StateHandle.patch`. */
export type Reducers = Readonly<Record<string, ((current: any, update: any) => any) | undefined>>

/** A checked graph, as the scheduler runs it: steps are referred to by their index. */
export interface Compiled {
  readonly name: string
  readonly steps: ReadonlyArray<CompiledStep>
  readonly index: ReadonlyMap<string, number>
  readonly entry: number
  readonly concurrency: number
  readonly maxSteps: number
  readonly bufferSize: number
  readonly reducers: Reducers | undefined
  readonly middleware: ReadonlyArray<Middleware<unknown, unknown>>
  readonly startup: Effect.Effect<unknown, unknown, unknown> | undefined
  readonly shutdown: ReadonlyArray<(context: unknown, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>>
  /** The predecessors of each barrier step (a step with at least two); `undefined` for the other steps. */
  readonly preds: ReadonlyArray<ReadonlyArray<number> | undefined>
  /** For each barrier and each of its predecessors: the steps from which that predecessor is reachable avoiding the barrier. */
  readonly ancestors: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>> | undefined>
}

/** A compiled step: its definition, its `to` targets by index, and its nested graph compiled. */
export interface CompiledStep {
  readonly id: string
  readonly definition: StepDefinition
  readonly to: ReadonlyArray<number>
  readonly inner: Compiled | undefined
}

const cache = new WeakMap<object, Compiled>()

/** Checks and compiles a graph (and its nested graphs), once per graph value. */
export const compile = (impl: GraphImpl): Either.Either<Compiled, GraphError> => {
  const cached = cache.get(impl)
  if (cached !== undefined) return Either.right(cached)
  const result = compileUncached(impl)
  if (Either.isRight(result)) cache.set(impl, result.right)
  return result
}

/** The entry step's id as the graph declares it, or `undefined` when it has none or several candidates. */
export const entryOf = (impl: GraphImpl): string | undefined => {
  const entry = chooseEntry(impl)
  return entry._tag === "Entry" ? entry.id : undefined
}

/**
 * A step with an effect body may return `Graph.next` to any step: those targets are known to the types (which check
 * them) but not here, so validation treats such a step as possibly leading to every step no edge reaches.
 */
const mayRoute = (d: StepDefinition): boolean => d.kind === "effect"

// =============================================================================
// checks
// =============================================================================

const compileUncached = (impl: GraphImpl): Either.Either<Compiled, GraphError> => {
  const fail = failWith(impl.name)
  const settings = checkSettings(impl.options, fail)
  if (settings instanceof GraphError) return Either.left(settings)
  const defs = impl.definitions
  const index = indexSteps(defs, fail)
  if (index instanceof GraphError) return Either.left(index)
  const entry = findEntry(impl, index, fail)
  if (entry instanceof GraphError) return Either.left(entry)
  const edges = defs.map((d) => [...new Set([...d.to, ...d.routes])].map((t) => index.get(t)!))
  const routes = withDynamicRoutes(defs, edges, entry)
  const unreachable = checkReachable(defs, routes, entry, fail)
  if (unreachable !== undefined) return Either.left(unreachable)
  const { ancestors, preds } = barriers(edges, routes)
  const steps: Array<CompiledStep> = []
  for (const d of defs) {
    let inner: Compiled | undefined
    if (d.kind === "graph") {
      const result = compile(d.body as GraphImpl)
      if (Either.isLeft(result)) return result
      inner = result.right
    }
    steps.push({ id: d.id, definition: d, to: d.to.map((t) => index.get(t)!), inner })
  }
  return Either.right({
    name: impl.name,
    steps,
    index,
    entry,
    ...settings,
    reducers: impl.options.reducers as Reducers | undefined,
    middleware: impl.middleware,
    startup: impl.startup,
    shutdown: impl.shutdown,
    preds,
    ancestors
  })
}

type Fail = (reason: GraphError["reason"], steps: ReadonlyArray<string>, description?: string) => GraphError

const failWith = (graph: string): Fail => (reason, steps, description) =>
  new GraphError(description === undefined ? { graph, reason, steps } : { graph, reason, steps, description })

const checkSettings = (options: Options<any>, fail: Fail) => {
  const settings = {
    concurrency: options.concurrency ?? 16,
    maxSteps: options.maxSteps ?? 1000,
    bufferSize: options.bufferSize ?? 512
  }
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isInteger(value) || value < 1) {
      return fail("InvalidOption", [], `${key} must be a positive integer, got ${value}`)
    }
  }
  return settings
}

const indexSteps = (defs: ReadonlyArray<StepDefinition>, fail: Fail): Map<string, number> | GraphError => {
  if (defs.length === 0) return fail("NoEntry", [], "the graph has no steps")
  const index = new Map<string, number>()
  const duplicates = new Set<string>()
  defs.forEach((d, i) => index.has(d.id) ? duplicates.add(d.id) : index.set(d.id, i))
  if (duplicates.size > 0) return fail("DuplicateStep", [...duplicates], "step ids must be unique")
  for (const d of defs) {
    const unknown = [...d.to, ...d.routes].filter((t) => !index.has(t))
    if (unknown.length > 0) {
      return fail("UnknownTarget", [d.id, ...unknown], `step "${d.id}" refers to unknown step(s)`)
    }
  }
  return index
}

/** The steps no `to` or `routes` edge reaches, in declaration order. */
const rootsOf = (defs: ReadonlyArray<StepDefinition>): ReadonlyArray<string> => {
  const targeted = new Set(defs.flatMap((d) => [...d.to, ...d.routes]))
  return defs.filter((d) => !targeted.has(d.id)).map((d) => d.id)
}

/**
 * The entry: the step chosen with `.entry(id)`, else the only step no edge reaches, else the first step declared if
 * no edge reaches it and some step may route to the others with `Graph.next`.
 */
const chooseEntry = (impl: GraphImpl): Entry => {
  if (impl.entryStep !== undefined) return { _tag: "Entry", id: impl.entryStep }
  const defs = impl.definitions
  const roots = rootsOf(defs)
  if (roots.length === 0) return { _tag: "NoEntry" }
  if (roots.length === 1 || (roots[0] === defs[0]!.id && defs.some(mayRoute))) return { _tag: "Entry", id: roots[0]! }
  return { _tag: "Ambiguous", roots }
}

type Entry =
  | { readonly _tag: "Entry"; readonly id: string }
  | { readonly _tag: "NoEntry" }
  | { readonly _tag: "Ambiguous"; readonly roots: ReadonlyArray<string> }

const findEntry = (impl: GraphImpl, index: ReadonlyMap<string, number>, fail: Fail): number | GraphError => {
  const entry = chooseEntry(impl)
  switch (entry._tag) {
    case "NoEntry":
      return fail("NoEntry", [], "every step has a predecessor: choose the entry step with .entry(id)")
    case "Ambiguous":
      return fail("AmbiguousEntry", entry.roots, "several steps have no predecessor: choose the entry with .entry(id)")
    case "Entry":
      return index.get(entry.id) ?? fail("UnknownTarget", [entry.id], "the entry step does not exist")
  }
}

/**
 * The edges validation and barriers go by: `to` and `routes`, plus, when some steps are not reached through them,
 * an edge from every step that may route dynamically to each of those steps (their `Graph.next` targets are unknown
 * here). A graph whose steps are all reached through `to` and `routes` keeps its edges as they are.
 */
const withDynamicRoutes = (
  defs: ReadonlyArray<StepDefinition>,
  edges: ReadonlyArray<ReadonlyArray<number>>,
  entry: number
): ReadonlyArray<ReadonlyArray<number>> => {
  const reached = closure(edges, [entry])
  const candidates: Array<number> = []
  reached.forEach((r, i) => r === 0 && candidates.push(i))
  if (candidates.length === 0) return edges
  return edges.map((targets, i) =>
    mayRoute(defs[i]!) ? [...new Set([...targets, ...candidates.filter((t) => t !== i)])] : targets
  )
}

const checkReachable = (
  defs: ReadonlyArray<StepDefinition>,
  edges: ReadonlyArray<ReadonlyArray<number>>,
  entry: number,
  fail: Fail
): GraphError | undefined => {
  const reachable = closure(edges, [entry])
  const unreachable = defs.filter((_, i) => reachable[i] === 0).map((d) => d.id)
  if (unreachable.length === 0) return undefined
  return fail(
    "Unreachable",
    unreachable,
    "no `to` or `routes` edge from the entry reaches these steps, and no step on the way can route to them with `Graph.next`"
  )
}

// =============================================================================
// barriers
// =============================================================================

/**
 * A barrier step (several `to` or `routes` predecessors) runs once every predecessor that could still arrive has
 * arrived. To know which could, the scheduler looks at the steps from which each predecessor is reachable (along
 * `routes`, dynamic routes included) without going through the barrier: if one of them is running or queued, the
 * predecessor may still come.
 */
const barriers = (edges: ReadonlyArray<ReadonlyArray<number>>, routes: ReadonlyArray<ReadonlyArray<number>>) => {
  const n = edges.length
  const reverseOf = (graph: ReadonlyArray<ReadonlyArray<number>>) => {
    const reverse: Array<Array<number>> = Array.from({ length: n }, () => [])
    graph.forEach((targets, i) => {
      for (const t of targets) reverse[t]!.push(i)
    })
    return reverse
  }
  const predecessors = reverseOf(edges)
  const reverse = routes === edges ? predecessors : reverseOf(routes)
  const preds: Array<ReadonlyArray<number> | undefined> = new Array(n).fill(undefined)
  const ancestors: Array<ReadonlyArray<ReadonlyArray<number>> | undefined> = new Array(n).fill(undefined)
  for (let j = 0; j < n; j++) {
    const ps = predecessors[j]!.filter((p) => p !== j)
    if (ps.length < 2) continue
    preds[j] = ps
    ancestors[j] = ps.map((p) => {
      const out = [p]
      closure(reverse, [p], j).forEach((seen, q) => {
        if (seen === 1 && q !== j && q !== p) out.push(q)
      })
      return out
    })
  }
  return { preds, ancestors }
}

/** Marks the nodes reachable from `from` along `edges` (never entering `avoid`). */
const closure = (edges: ReadonlyArray<ReadonlyArray<number>>, from: ReadonlyArray<number>, avoid = -1): Uint8Array => {
  const seen = new Uint8Array(edges.length)
  if (avoid >= 0) seen[avoid] = 1
  const todo = [...from]
  for (const f of from) seen[f] = 1
  while (todo.length > 0) {
    for (const t of edges[todo.pop()!]!) {
      if (seen[t] === 0) {
        seen[t] = 1
        todo.push(t)
      }
    }
  }
  return seen
}
