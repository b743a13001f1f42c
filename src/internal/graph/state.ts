/**
 * A run's state and startup value, as step bodies reach them: the state handle (atomic updates, per-field reducers)
 * and the services that carry it and the `onStartup` value.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { ContextService, StateHandle, StateService } from "../../Graph.js"
import type { Reducers } from "./compile.js"

/** The service carrying the state handle of the running graph. */
export const StateTag = Context.GenericTag<StateService<any>, StateHandle<any>>("sluice/Graph/State")

/** The value of the running graph's `onStartup` hook, if it has one. */
export interface ContextBox {
  readonly graph: string
  readonly present: boolean
  readonly value: unknown
}

/** The service carrying the {@link ContextBox} of the running graph. */
export const ContextTag = Context.GenericTag<ContextService<any>, ContextBox>("sluice/Graph/Context")

/** Reads the `onStartup` value; a graph without the hook has none, which is a bug in the graph. */
export const contextAccessor: Effect.Effect<any, never, ContextService<any>> = Effect.flatMap(
  ContextTag,
  (box) =>
    box.present
      ? Effect.succeed(box.value)
      : Effect.dieMessage(`graph "${box.graph}" has no onStartup hook: add one to provide its context`)
)

/**
 * A state handle over `initial`. Every operation is synchronous, so each one is atomic with respect to the other
 * branches of the run.
 */
export const makeHandle = <S>(initial: S, reducers: Reducers | undefined): StateHandle<S> => {
  let current = initial
  const patchWith = (fields: Partial<S>): S => {
    const nextState: Record<string, unknown> = { ...(current as Record<string, unknown>) }
    for (const key of Object.keys(fields)) {
      const value = (fields as Record<string, unknown>)[key]
      const reducer = reducers?.[key]
      nextState[key] = reducer === undefined ? value : reducer(nextState[key], value)
    }
    return nextState as S
  }
  return {
    get: Effect.sync(() => current),
    set: (s) =>
      Effect.sync(() => {
        current = s
      }),
    update: (f) =>
      Effect.sync(() => {
        current = f(current)
      }),
    modify: (f) =>
      Effect.sync(() => {
        const [a, s] = f(current)
        current = s
        return a
      }),
    patch: (fields) =>
      Effect.sync(() => {
        current = patchWith(fields)
      }),
    unsafeGet: () => current
  }
}
