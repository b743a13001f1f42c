/**
 * What the Graph test files share: a graph over a trail of step ids and a counter, and helpers over events.
 */
import { Chunk, Context, Data, Effect, Stream } from "effect"
import type * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"

export class Transient extends Data.TaggedError("Transient")<{ readonly attempt: number }> {
  get isRetryable() {
    return true
  }
}
export class Fatal extends Data.TaggedError("Fatal")<{}> {
  get isRetryable() {
    return false
  }
}

export class Audit
  extends Context.Tag("test/Audit")<Audit, { readonly record: (step: string) => Effect.Effect<void> }>()
{}

export interface State {
  readonly trail: ReadonlyArray<string>
  readonly count: number
}
export const initial: State = { trail: [], count: 0 }

export const collect = <E, R>(stream: Stream.Stream<Event.Event, E, R>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

export const show = (events: ReadonlyArray<Event.Event>) => events.map((e) => `${e._tag}:${e.path.join("/")}`)

/** Drops the compile-time checks of step ids, to test the run-time ones. */
export const unchecked = <S, C, N extends string, T extends string, E, R>(graph: Graph.Graph<S, C, N, T, E, R>) =>
  graph as unknown as Graph.Graph<S, C, string, string, E, R>

/** The step ids of the StepStart events of a run, in order. */
export const started = (events: ReadonlyArray<Event.Event>) =>
  events.filter((e) => e._tag === "StepStart" && e.path.length === 2).map((e) => e.path[1]!)

export const g = Graph.make<State>({ name: "g", reducers: { trail: (a, b) => [...a, ...b] } })
export const mark = (id: string) => Effect.flatMap(g.state, (state) => state.patch({ trail: [id] }))
export const sleepMark = (id: string, ms: number) => Effect.zipRight(Effect.sleep(ms), mark(id))
export const increment = Effect.flatMap(g.state, (state) => state.update((s) => ({ ...s, count: s.count + 1 })))

/** The reason and steps of the error `Graph.validate` fails with. */
export const reasonOf = (graph: Graph.Graph.Any) =>
  Effect.map(Effect.flip(Graph.validate(graph)), (e) => [e.reason, e.steps] as const)
