/**
 * Shared fixtures of the Agent tests: two tools (one with a typed failure), their handlers, a scripted two-tool
 * conversation, and helpers to read events and state.
 */
import { Tool, Toolkit } from "@effect/ai"
import { Chunk, Data, Effect, Schema, Stream } from "effect"
import type * as Agent from "../src/Agent.js"
import type * as AgentEvent from "../src/AgentEvent.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { city: Schema.String }) {}

export const Weather = Tool.make("weather", {
  description: "Current temperature in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ celsius: Schema.Number }),
  failure: NotFound
})
export const Time = Tool.make("time", {
  description: "Current time in a time zone",
  parameters: { zone: Schema.String },
  success: Schema.String
})
export const Kit = Toolkit.make(Weather, Time)

export const handlers = {
  weather: ({ city }: { readonly city: string }) =>
    city === "Atlantis" ? Effect.fail(new NotFound({ city })) : Effect.succeed({ celsius: city.length }),
  time: ({ zone }: { readonly zone: string }) => Effect.succeed(`12:00 ${zone}`)
}

/** The model's first reply in the scripted conversation: some text and two tool calls. */
export const callBoth: ScriptedEngine.Reply = {
  text: "Let me check.",
  toolCalls: [
    { id: "w1", name: "weather", params: { city: "Oslo" } },
    { id: "t1", name: "time", params: { zone: "CET" } }
  ]
}

/** A scripted two-tool conversation (both tools, then the answer), then `more` replies. */
export const twoToolsThen = (...more: ReadonlyArray<ScriptedEngine.Reply>) =>
  ScriptedEngine.layer({ replies: [callBoth, "It is 4°C at 12:00 CET.", ...more] })

export const twoTools = twoToolsThen()

export const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

export const tags = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.map((e) => e._tag)

/** The event tags with the updates of one message collapsed: easier to read in order assertions. */
export const outline = (events: ReadonlyArray<AgentEvent.AgentEvent>) => {
  const out: Array<string> = []
  for (const event of events) {
    const tag = event._tag === "MessageUpdate"
      ? `Update:${event.delta._tag}`
      : event._tag === "MessageStart" || event._tag === "MessageEnd"
      ? `${event._tag}:${event.message._tag}`
      : event._tag
    if (out.at(-1) !== tag || !tag.startsWith("Update:")) out.push(tag)
  }
  return out
}

export const assistants = (state: Agent.State) =>
  state.messages.filter((m): m is AgentEvent.AssistantMessage => m._tag === "AssistantMessage")

export const toolResults = (state: Agent.State) =>
  state.messages.filter((m): m is AgentEvent.ToolResultMessage => m._tag === "ToolResultMessage")

/** A store failure, for persistence tests. */
export class DiskFull extends Data.TaggedError("DiskFull")<{}> {}
