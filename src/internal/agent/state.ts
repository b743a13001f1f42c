/**
 * The agent's state schema, and saving it to / loading it from a `KeyValueStore`.
 */
import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { AgentError } from "../../AgentError.js"
import * as AgentEvent from "../../AgentEvent.js"
import * as Node from "../../Node.js"
import type { Internal } from "./core.js"

export const State = Schema.Struct({
  sessionId: Schema.String,
  systemPrompt: Schema.String,
  model: Schema.optional(Schema.String),
  tools: Schema.Array(Schema.String),
  messages: Schema.Array(AgentEvent.Message)
})

export type State = typeof State.Type

export const StateFromJson = Schema.parseJson(State)

/** Sets the conversation from a restored state; the agent keeps its own tools. */
export const setState = (agent: Internal, state: State): Effect.Effect<void> =>
  Ref.update(agent.state, (current) => {
    const { model: _, ...rest } = current
    return {
      ...rest,
      ...(state.model === undefined ? {} : { model: state.model }),
      sessionId: state.sessionId,
      systemPrompt: state.systemPrompt,
      messages: state.messages
    }
  })

/** Sets (or, with `undefined`, removes) the model name of the state. */
export const setModelName = (agent: Internal, name: string | undefined): Effect.Effect<void> =>
  Ref.update(agent.state, (state) => {
    const { model: _, ...rest } = state
    return name === undefined ? rest : { ...rest, model: name }
  })

export const invalidState = (session: string, error: ParseResult.ParseError): AgentError =>
  new AgentError({
    session,
    reason: "InvalidState",
    description: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })

const persistence = (session: string, cause: unknown): AgentError =>
  new AgentError({ session, reason: "Persistence", description: Node.errorMessage(cause), cause })

const encodeState = Schema.encode(StateFromJson)
const decodeState = Schema.decode(StateFromJson, { errors: "all" })

export const validate = (state: State): Effect.Effect<State, AgentError> =>
  Effect.mapError(Schema.validate(State, { errors: "all" })(state), (error) => invalidState(state.sessionId, error))

export const saveTo = (agent: Internal, store: KeyValueStore.KeyValueStore): Effect.Effect<void, AgentError> =>
  Effect.flatMap(Ref.get(agent.state), (state) =>
    encodeState(state).pipe(
      Effect.mapError((error) => invalidState(state.sessionId, error)),
      Effect.flatMap((json) =>
        Effect.mapError(
          store.set(agent.storeKey + state.sessionId, json),
          (error) => persistence(state.sessionId, error)
        )
      )
    ))

/** Restores the state saved for `sessionId`; `false` when there is none. */
export const loadFrom = (
  agent: Internal,
  store: KeyValueStore.KeyValueStore,
  sessionId: string
): Effect.Effect<boolean, AgentError> =>
  Effect.flatMap(
    Effect.mapError(store.get(agent.storeKey + sessionId), (error) => persistence(sessionId, error)),
    Option.match({
      onNone: () => Effect.succeed(false),
      onSome: (json) =>
        decodeState(json).pipe(
          Effect.mapError((error) => invalidState(sessionId, error)),
          Effect.flatMap((state) => setState(agent, state)),
          Effect.as(true)
        )
    })
  )

/** Saves the state when the agent persists (`persist: true`). */
export const autoSave = (agent: Internal): Effect.Effect<void, AgentError> =>
  Option.match(agent.store, { onNone: () => Effect.void, onSome: (store) => saveTo(agent, store) })
