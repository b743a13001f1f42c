/**
 * The internal shape of a mounted runnable, and how each kind of runnable runs.
 */
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Event from "../../Event.js"
import type * as Chat from "./chat.js"

export const TypeId: symbol = Symbol.for("sluice/Serve/Route")

export type Kind = "node" | "llm" | "graph" | "pipeline" | "chain" | "agent"

export interface RunContext {
  readonly runId: string
  readonly emit: (event: Event.Event) => Effect.Effect<void>
}

export interface RouteImpl<R> {
  readonly name: string
  readonly kind: Kind
  readonly concurrency: number | undefined
  readonly input: Schema.Schema<any, any>
  readonly run: (input: any, context: RunContext) => Effect.Effect<unknown, unknown, R>
  readonly chat: ((request: Chat.Request) => Stream.Stream<Chat.Part, unknown, R>) | undefined
}
