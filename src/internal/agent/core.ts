/**
 * The agent as the machinery sees it: its conversation, model, tools, event hub and settings.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import type * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { Agent, StopContext } from "../../Agent.js"
import type * as AgentEvent from "../../AgentEvent.js"
import type { State } from "./state.js"
import type { ToolSet } from "./tools.js"

/**
 * An agent's fields. `toolSet` is replaced by `Agent.setTools` (a turn reads it once, when it starts), `engineScope`
 * by `Agent.setModel`.
 */
export interface Internal extends Agent {
  readonly state: Ref.Ref<State>
  readonly model: Ref.Ref<LanguageModel.Service>
  toolSet: ToolSet
  /** The scope holding the registry engine the agent got by name, if any. */
  engineScope: Scope.CloseableScope | undefined
  readonly pubsub: PubSub.PubSub<AgentEvent.AgentEvent>
  readonly lock: Effect.Semaphore
  readonly current: Ref.Ref<Option.Option<Deferred.Deferred<void>>>
  readonly scope: Scope.Scope
  readonly store: Option.Option<KeyValueStore.KeyValueStore>
  readonly storeKey: string
  readonly maxTurns: number
  readonly onMaxTurns: "fail" | "stop"
  readonly stopWhen: ((context: StopContext) => boolean | Effect.Effect<boolean>) | undefined
  readonly toolConcurrency: number | "unbounded"
  readonly bufferSize: number
  readonly retry: number
}

export const internal = (agent: Agent): Internal => agent as Internal

/** Runs `effect` once no prompt is running on the agent (prompts hold the same lock). */
export const withLock = <A, E, R>(self: Agent, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  internal(self).lock.withPermits(1)(effect)

export const append = (agent: Internal, messages: ReadonlyArray<AgentEvent.Message>): Effect.Effect<void> =>
  messages.length === 0
    ? Effect.void
    : Ref.update(agent.state, (state) => ({ ...state, messages: [...state.messages, ...messages] }))
