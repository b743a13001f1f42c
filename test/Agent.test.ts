import { AiError, Tool, Toolkit } from "@effect/ai"
import { FetchHttpClient, KeyValueStore } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Data,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Queue,
  Ref,
  Schema,
  Stream,
  TestClock
} from "effect"
import * as Agent from "../src/Agent.js"
import { AgentError } from "../src/AgentError.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as EngineRegistry from "../src/EngineRegistry.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

// =============================================================================
// fixtures
// =============================================================================

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { city: Schema.String }) {}

const Weather = Tool.make("weather", {
  description: "Current temperature in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ celsius: Schema.Number }),
  failure: NotFound
})
const Time = Tool.make("time", {
  description: "Current time in a time zone",
  parameters: { zone: Schema.String },
  success: Schema.String
})
const Kit = Toolkit.make(Weather, Time)

const handlers = {
  weather: ({ city }: { readonly city: string }) =>
    city === "Atlantis" ? Effect.fail(new NotFound({ city })) : Effect.succeed({ celsius: city.length }),
  time: ({ zone }: { readonly zone: string }) => Effect.succeed(`12:00 ${zone}`)
}

const twoTools = ScriptedEngine.layer({
  replies: [
    {
      text: "Let me check.",
      toolCalls: [
        { id: "w1", name: "weather", params: { city: "Oslo" } },
        { id: "t1", name: "time", params: { zone: "CET" } }
      ]
    },
    { text: "It is 4°C at 12:00 CET." }
  ]
})

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

const tags = (events: ReadonlyArray<AgentEvent.AgentEvent>) => events.map((e) => e._tag)

/** The event tags with the updates of one message collapsed: easier to read in order assertions. */
const outline = (events: ReadonlyArray<AgentEvent.AgentEvent>) => {
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

const assistants = (state: Agent.State) =>
  state.messages.filter((m): m is AgentEvent.AssistantMessage => m._tag === "AssistantMessage")

const toolResults = (state: Agent.State) =>
  state.messages.filter((m): m is AgentEvent.ToolResultMessage => m._tag === "ToolResultMessage")

// =============================================================================
// the loop
// =============================================================================

describe("Agent", () => {
  describe("the loop", () => {
    it.scoped("runs a two-tool conversation: events in order per turn, results fed back, final text", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ system: "You help.", tools: Kit, handlers })
        const events = yield* collect(Agent.prompt(agent, "Weather and time in Oslo?"))
        assert.deepStrictEqual(outline(events), [
          "AgentStart",
          "MessageStart:UserMessage",
          "MessageEnd:UserMessage",
          "TurnStart",
          "MessageStart:AssistantMessage",
          "Update:TextDelta",
          "Update:ToolCallStart",
          "Update:ToolCallDelta",
          "Update:ToolCallEnd",
          "Update:ToolCallStart",
          "Update:ToolCallDelta",
          "Update:ToolCallEnd",
          "MessageEnd:AssistantMessage",
          "ToolExecutionStart",
          "ToolExecutionEnd",
          "ToolExecutionStart",
          "ToolExecutionEnd",
          "MessageStart:ToolResultMessage",
          "MessageEnd:ToolResultMessage",
          "MessageStart:ToolResultMessage",
          "MessageEnd:ToolResultMessage",
          "TurnEnd",
          "TurnStart",
          "MessageStart:AssistantMessage",
          "Update:TextDelta",
          "MessageEnd:AssistantMessage",
          "TurnEnd",
          "AgentEnd"
        ])
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "stop")
        assert.strictEqual(end.text, "It is 4°C at 12:00 CET.")
        assert.strictEqual(end.turns, 2)
        assert.isAbove(end.usage?.outputTokens ?? 0, 0)
        const turnEnds = events.filter(AgentEvent.is("TurnEnd"))
        assert.deepStrictEqual(turnEnds[0]!.toolResults.map((r) => [r.toolCallId, r.result, r.isError]), [
          ["w1", { celsius: 4 }, false],
          ["t1", "12:00 CET", false]
        ])
        assert.strictEqual(turnEnds[0]!.message.stopReason, "toolCalls")
        const [first, second] = yield* ScriptedEngine.requests
        assert.deepStrictEqual(first!.tools, ["weather", "time"])
        assert.strictEqual(first!.text, "system: You help.\nuser: Weather and time in Oslo?")
        assert.strictEqual(
          second!.text,
          [
            "system: You help.",
            "user: Weather and time in Oslo?",
            `assistant: Let me check.weather({"city":"Oslo"})time({"zone":"CET"})`,
            `tool: weather -> {"celsius":4}time -> "12:00 CET"`
          ].join("\n")
        )
        const state = yield* Agent.state(agent)
        assert.deepStrictEqual(state.messages.map((m) => m._tag), [
          "UserMessage",
          "AssistantMessage",
          "ToolResultMessage",
          "ToolResultMessage",
          "AssistantMessage"
        ])
        assert.deepStrictEqual(state.tools, ["weather", "time"])
      }).pipe(Effect.provide(twoTools)))

    it.scoped("promptText returns the last assistant text; later prompts continue the conversation", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers })
        assert.strictEqual(yield* Agent.promptText(agent, "Weather?"), "It is 4°C at 12:00 CET.")
        assert.strictEqual(yield* Agent.promptText(agent, "Thanks"), "You're welcome.")
        const requests = yield* ScriptedEngine.requests
        assert.lengthOf(requests, 3)
        assert.include(requests[2]!.text, "assistant: It is 4°C at 12:00 CET.\nuser: Thanks")
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          { toolCalls: [{ name: "weather", params: { city: "Oslo" } }] },
          "It is 4°C at 12:00 CET.",
          "You're welcome."
        ]
      }))))

    it.scoped("streams thinking deltas and records them in the assistant message", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const events = yield* collect(Agent.prompt(agent, "Think"))
        const deltas = events.filter(AgentEvent.is("MessageUpdate")).map((e) => e.delta)
        assert.deepStrictEqual(deltas.filter((d) => d._tag === "ThinkingDelta").map((d) => d.text), ["hmm,", " ok"])
        const [message] = assistants(yield* Agent.state(agent))
        assert.deepStrictEqual(message!.content, [
          { _tag: "Thinking", text: "hmm, ok" },
          { _tag: "Text", text: "Done." }
        ])
      }).pipe(
        Effect.provide(ScriptedEngine.layer({ replies: [{ reasoning: "hmm, ok", text: "Done." }], tokenSize: 4 }))
      ))

    it.scoped("prompts on one agent run one at a time, in order", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const first = yield* Effect.fork(Agent.promptText(agent, "one"))
        const second = yield* Effect.fork(Agent.promptText(agent, "two"))
        yield* TestClock.adjust("5 millis")
        assert.lengthOf(yield* ScriptedEngine.requests, 1)
        yield* TestClock.adjust("15 millis")
        assert.deepStrictEqual([yield* Fiber.join(first), yield* Fiber.join(second)], ["reply 1", "reply 2"])
        const requests = yield* ScriptedEngine.requests
        assert.strictEqual(requests[1]!.text, "user: one\nassistant: reply 1\nuser: two")
      }).pipe(Effect.provide(ScriptedEngine.layer({
        latency: "10 millis",
        reply: (request) => `reply ${request.call}`
      }))))

    it.scoped("maxTurns with onMaxTurns 'fail' fails with AgentError(MaxTurnsExceeded) after an AgentEnd", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers, maxTurns: 2 })
        const events: Array<AgentEvent.AgentEvent> = []
        const error = yield* Effect.flip(Stream.runForEach(Agent.prompt(agent, "loop"), (e) =>
          Effect.sync(() => {
            events.push(e)
          })))
        assert.instanceOf(error, AgentError)
        assert.strictEqual((error as AgentError).reason, "MaxTurnsExceeded")
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end._tag, "AgentEnd")
        assert.strictEqual(end.reason, "error")
        assert.strictEqual(end.error?.tag, "AgentError")
        assert.lengthOf(yield* ScriptedEngine.requests, 2)
        assert.lengthOf(toolResults(yield* Agent.state(agent)), 2)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        reply: () => ({ toolCalls: [{ name: "time", params: { zone: "UTC" } }] })
      }))))

    it.scoped("maxTurns with onMaxTurns 'stop' ends with reason maxTurns", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers, maxTurns: 3, onMaxTurns: "stop" })
        const events = yield* collect(Agent.prompt(agent, "loop"))
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "maxTurns")
        assert.strictEqual(end.turns, 3)
        assert.strictEqual(end.text, "again")
        assert.lengthOf(yield* ScriptedEngine.requests, 3)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        reply: () => ({ text: "again", toolCalls: [{ name: "time", params: { zone: "UTC" } }] })
      }))))

    it.scoped("stopWhen ends the loop when it holds", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({
          tools: Kit,
          handlers,
          stopWhen: ({ toolResults }) => Effect.succeed(toolResults.some((r) => r.toolName === "weather"))
        })
        const events = yield* collect(Agent.prompt(agent, "go"))
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "stopCondition")
        assert.strictEqual(end.turns, 2)
        assert.lengthOf(yield* ScriptedEngine.requests, 2)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          { toolCalls: [{ name: "time", params: { zone: "UTC" } }] },
          { toolCalls: [{ name: "weather", params: { city: "Rome" } }] },
          "never asked"
        ]
      }))))

    it.scoped("a model failure fails the prompt with the AiError and records the partial message as error", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers })
        const events: Array<AgentEvent.AgentEvent> = []
        const error = yield* Effect.flip(Stream.runForEach(Agent.prompt(agent, "go"), (e) =>
          Effect.sync(() => {
            events.push(e)
          })))
        assert.strictEqual(error._tag, "UnknownError")
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "error")
        assert.strictEqual(end.error?.tag, "UnknownError")
        const state = yield* Agent.state(agent)
        const last = assistants(state).at(-1)!
        assert.strictEqual(last.stopReason, "error")
        assert.include(last.errorMessage ?? "", "down")
        assert.lengthOf(toolResults(state), 1)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [{ toolCalls: [{ name: "time", params: { zone: "UTC" } }] }],
        failures: { 2: new AiError.UnknownError({ module: "test", method: "streamText", description: "down" }) }
      }))))
  })

  // ===========================================================================
  // tool errors
  // ===========================================================================

  describe("tool errors become results for the model", () => {
    it.scoped("a typed failure, a plain failure, a defect, invalid parameters and an unknown tool", () =>
      Effect.gen(function*() {
        const Boom = Tool.make("boom", { parameters: { mode: Schema.Literal("fail", "die") }, success: Schema.String })
        const agent = yield* Agent.make({
          tools: Toolkit.make(Weather, Time, Boom),
          handlers: {
            ...handlers,
            boom: ({ mode }) => mode === "fail" ? Effect.fail("kaput") : Effect.die(new Error("exploded"))
          }
        })
        const text = yield* Agent.promptText(agent, "go")
        assert.strictEqual(text, "Sorry.")
        const results = toolResults(yield* Agent.state(agent))
        const byId = Object.fromEntries(results.map((r) => [r.toolCallId, r]))
        assert.deepStrictEqual(byId.typed!.result, { _tag: "NotFound", city: "Atlantis" })
        assert.isTrue(byId.typed!.isError)
        assert.strictEqual(byId.plain!.result, `Error: tool "boom" failed: kaput`)
        assert.strictEqual(byId.defect!.result, `Error: tool "boom" crashed: exploded`)
        assert.include(byId.invalid!.result as string, `Error: invalid parameters for tool "weather"`)
        assert.include(byId.invalid!.result as string, "city")
        assert.strictEqual(
          byId.unknown!.result,
          `Error: unknown tool "teleport"; the available tools are: weather, time, boom`
        )
        assert.isTrue(results.every((r) => r.isError))
        const [, second] = yield* ScriptedEngine.requests
        assert.include(second!.text, `teleport -> "Error: unknown tool`)
        assert.match(second!.text, /weather -> \{[^}]*"_tag":"NotFound"/)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            toolCalls: [
              { id: "typed", name: "weather", params: { city: "Atlantis" } },
              { id: "plain", name: "boom", params: { mode: "fail" } },
              { id: "defect", name: "boom", params: { mode: "die" } },
              { id: "invalid", name: "weather", params: { town: 3 } },
              { id: "unknown", name: "teleport", params: { to: "Mars" } }
            ]
          },
          "Sorry."
        ]
      }))))

    it.scoped("handlers from a toolkit Layer: failures and invalid parameters are results too", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit })
        assert.strictEqual(yield* Agent.promptText(agent, "go"), "ok")
        const results = toolResults(yield* Agent.state(agent))
        assert.deepStrictEqual(results.map((r) => [r.result, r.isError]), [
          [{ celsius: 5 }, false],
          [{ _tag: "NotFound", city: "Atlantis" }, true],
          [results[2]!.result, true]
        ])
        assert.include(results[2]!.result as string, "Failed to decode tool call parameters for tool 'weather'")
      }).pipe(
        Effect.provide(ScriptedEngine.layer({
          replies: [
            {
              toolCalls: [
                { name: "weather", params: { city: "Paris" } },
                { name: "weather", params: { city: "Atlantis" } },
                { name: "weather", params: { city: 7 } }
              ]
            },
            "ok"
          ]
        })),
        Effect.provide(Kit.toLayer({
          weather: ({ city }) =>
            city === "Atlantis" ? Effect.fail(new NotFound({ city })) : Effect.succeed({
              celsius: city.length
            }),
          time: ({ zone }) => Effect.succeed(zone)
        }))
      ))
  })

  // ===========================================================================
  // tools: progress and concurrency
  // ===========================================================================

  describe("tools", () => {
    it.scoped("handlers stream progress as ToolExecutionUpdate events", () =>
      Effect.gen(function*() {
        const Download = Tool.make("download", { parameters: { url: Schema.String }, success: Schema.Number })
        const agent = yield* Agent.make({
          tools: Toolkit.make(Download),
          handlers: {
            download: ({ url }, { toolCallId, update }) =>
              Effect.gen(function*() {
                for (const percent of [25, 50, 100]) yield* update({ url, percent, toolCallId })
                return 3
              })
          }
        })
        const events = yield* collect(Agent.prompt(agent, "get it"))
        const updates = events.filter(AgentEvent.is("ToolExecutionUpdate"))
        assert.deepStrictEqual(updates.map((u) => u.progress), [
          { url: "u", percent: 25, toolCallId: "d1" },
          { url: "u", percent: 50, toolCallId: "d1" },
          { url: "u", percent: 100, toolCallId: "d1" }
        ])
        const start = tags(events).indexOf("ToolExecutionStart")
        const end = tags(events).indexOf("ToolExecutionEnd")
        assert.isTrue(
          start < tags(events).indexOf("ToolExecutionUpdate") && end > tags(events).lastIndexOf("ToolExecutionUpdate")
        )
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [{ toolCalls: [{ id: "d1", name: "download", params: { url: "u" } }] }, "done"]
      }))))

    it.scoped("runs tool calls in parallel, at most toolConcurrency at once", () =>
      Effect.gen(function*() {
        const Sleep = Tool.make("sleep", { parameters: { ms: Schema.Number }, success: Schema.Number })
        const running = yield* Ref.make(0)
        const peak = yield* Ref.make(0)
        const agent = yield* Agent.make({
          tools: Toolkit.make(Sleep),
          toolConcurrency: 2,
          handlers: {
            sleep: ({ ms }) =>
              Effect.acquireUseRelease(
                Effect.flatMap(Ref.updateAndGet(running, (n) => n + 1), (n) => Ref.update(peak, (p) => Math.max(p, n))),
                () => Effect.as(Effect.sleep(ms), ms),
                () => Ref.update(running, (n) => n - 1)
              )
          }
        })
        const fiber = yield* Effect.fork(collect(Agent.prompt(agent, "sleep")))
        yield* TestClock.adjust("100 millis")
        assert.isNull(fiber.unsafePoll())
        yield* TestClock.adjust("100 millis")
        const events = yield* Fiber.join(fiber)
        assert.strictEqual(yield* Ref.get(peak), 2)
        const ends = events.filter(AgentEvent.is("ToolExecutionEnd"))
        assert.deepStrictEqual(ends.map((e) => e.durationMs), [100, 100, 100, 100])
        assert.deepStrictEqual(toolResults(yield* Agent.state(agent)).map((r) => r.toolCallId), ["a", "b", "c", "d"])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            toolCalls: ["a", "b", "c", "d"].map((id) => ({ id, name: "sleep", params: { ms: 100 } }))
          },
          "rested"
        ]
      }))))
  })

  // ===========================================================================
  // abort
  // ===========================================================================

  describe("abort", () => {
    it.scoped("stopping the stream mid-model-stream records the partial assistant message as aborted", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const seen = yield* Queue.unbounded<AgentEvent.AgentEvent>()
        yield* Agent.subscribe(agent, (event) => Queue.offer(seen, event))
        const fiber = yield* Effect.fork(collect(
          Agent.prompt(agent, "Tell me a story").pipe(
            Stream.takeUntil((e) =>
              e._tag === "MessageUpdate" && e.delta._tag === "TextDelta" && e.delta.text === " upo"
            )
          )
        ))
        yield* TestClock.adjust("100 millis")
        const events = yield* Fiber.join(fiber)
        assert.strictEqual(events.filter(AgentEvent.is("MessageUpdate")).length, 2)
        const [user, message] = (yield* Agent.state(agent)).messages
        assert.strictEqual(user!._tag, "UserMessage")
        assert.deepStrictEqual(message, {
          _tag: "AssistantMessage",
          content: [{ _tag: "Text", text: "Once upo" }],
          stopReason: "aborted",
          timestamp: (message as AgentEvent.AssistantMessage).timestamp
        })
        const published: Array<AgentEvent.AgentEvent> = []
        while (true) {
          const event = yield* Queue.take(seen)
          published.push(event)
          if (event._tag === "AgentEnd") break
        }
        const end = published.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "aborted")
        assert.strictEqual(end.text, "Once upo")
        assert.deepStrictEqual(tags(published.slice(-3)), ["MessageEnd", "TurnEnd", "AgentEnd"])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: ["Once upon a time there was a river."],
        tokenDelay: "10 millis"
      }))))

    it.scoped("Agent.abort mid-tool interrupts the tools; the stream ends with AgentEnd(aborted)", () =>
      Effect.gen(function*() {
        const Wait = Tool.make("wait", { parameters: {}, success: Schema.String })
        const interrupted = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const agent = yield* Agent.make({
          tools: Toolkit.make(Wait, Time),
          handlers: {
            ...handlers,
            wait: () =>
              Deferred.succeed(started, undefined).pipe(
                Effect.zipRight(Effect.never),
                Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
              )
          }
        })
        const fiber = yield* Effect.fork(collect(Agent.prompt(agent, "wait")))
        yield* Deferred.await(started)
        assert.isTrue(yield* Agent.abort(agent))
        const events = yield* Fiber.join(fiber)
        yield* Deferred.await(interrupted)
        assert.deepStrictEqual(
          tags(events).slice(-7),
          [
            "ToolExecutionEnd",
            "ToolExecutionEnd",
            "MessageStart",
            "MessageEnd",
            "MessageStart",
            "MessageEnd",
            "TurnEnd"
          ].slice(1).concat(["AgentEnd"])
        )
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "aborted")
        const results = toolResults(yield* Agent.state(agent))
        assert.deepStrictEqual(results.map((r) => [r.toolCallId, r.result, r.isError]), [
          ["t", "12:00 UTC", false],
          ["w", "Error: the tool call was aborted", true]
        ])
        assert.isFalse(yield* Agent.abort(agent))
        assert.strictEqual(yield* Agent.promptText(agent, "and now?"), "Resumed.")
        const requests = yield* ScriptedEngine.requests
        assert.include(requests[1]!.text, `wait -> "Error: the tool call was aborted"`)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            toolCalls: [{ id: "t", name: "time", params: { zone: "UTC" } }, { id: "w", name: "wait", params: {} }]
          },
          "Resumed."
        ]
      }))))

    it.scoped("promptText fails with AgentError(Aborted) after Agent.abort mid-stream", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const fiber = yield* Effect.fork(Agent.promptText(agent, "long"))
        yield* TestClock.adjust("25 millis")
        assert.isTrue(yield* Agent.abort(agent))
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual((error as AgentError).reason, "Aborted")
        const [, message] = (yield* Agent.state(agent)).messages
        assert.strictEqual((message as AgentEvent.AssistantMessage).stopReason, "aborted")
        assert.strictEqual(AgentEvent.textOf(message as AgentEvent.AssistantMessage), "a long a")
      }).pipe(Effect.provide(ScriptedEngine.layer({ replies: ["a long answer"], tokenDelay: "10 millis" }))))
  })

  // ===========================================================================
  // subscription
  // ===========================================================================

  describe("subscription", () => {
    it.scoped("subscribe delivers every event in order; unsubscribe stops delivery", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers })
        const seen = yield* Queue.unbounded<AgentEvent.AgentEvent>()
        const unsubscribe = yield* Agent.subscribe(agent, (event) => Queue.offer(seen, event))
        const events = yield* collect(Agent.prompt(agent, "Weather?"))
        const delivered = yield* Effect.map(Queue.takeN(seen, events.length), Chunk.toArray)
        assert.deepStrictEqual(delivered, events)
        yield* unsubscribe
        yield* Agent.promptText(agent, "again")
        yield* Effect.yieldNow()
        assert.strictEqual(yield* Queue.size(seen), 0)
      }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => "plain" }))))

    it.scoped("a listener that fails keeps receiving; plain (non-Effect) listeners work", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const seen: Array<string> = []
        yield* Agent.subscribe(agent, (event) => {
          seen.push(event._tag)
          if (event._tag === "TurnStart") throw new Error("listener bug")
        })
        const done = yield* Deferred.make<void>()
        yield* Agent.subscribe(agent, (event) =>
          event._tag === "AgentEnd" ? Deferred.succeed(done, undefined) : Effect.void)
        yield* Agent.promptText(agent, "hi")
        yield* Deferred.await(done)
        yield* Effect.yieldNow()
        assert.strictEqual(seen.at(-1), "AgentEnd")
        assert.include(seen, "TurnEnd")
      }).pipe(Effect.provide(ScriptedEngine.layer({
        reply: () =>
          "hello"
      }))))

    it.scoped("events() is subscribed when it returns; a late subscriber sees the rest of the turn, not its start", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const early = yield* Agent.events(agent)
        const earlyFiber = yield* Effect.fork(collect(early.pipe(Stream.takeUntil(AgentEvent.is("AgentEnd")))))
        const fiber = yield* Effect.fork(Agent.promptText(agent, "count"))
        yield* TestClock.adjust("25 millis")
        const late = yield* Agent.events(agent)
        const lateFiber = yield* Effect.fork(collect(late.pipe(Stream.takeUntil(AgentEvent.is("AgentEnd")))))
        yield* TestClock.adjust("100 millis")
        assert.strictEqual(yield* Fiber.join(fiber), "one two three four")
        const all = yield* Fiber.join(earlyFiber)
        const rest = yield* Fiber.join(lateFiber)
        assert.strictEqual(all[0]!._tag, "AgentStart")
        assert.notInclude(tags(rest), "AgentStart")
        assert.notInclude(tags(rest), "TurnStart")
        assert.deepStrictEqual(rest, all.slice(all.length - rest.length))
        const lateText = rest.flatMap((e) =>
          e._tag === "MessageUpdate" && e.delta._tag === "TextDelta" ? [e.delta.text] : []
        )
        assert.isAbove(lateText.length, 0)
        assert.isBelow(lateText.length, 4)
        const end = rest.find(AgentEvent.is("MessageEnd"))!
        assert.strictEqual(AgentEvent.textOf(end.message as AgentEvent.AssistantMessage), "one two three four")
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [{ chunks: ["one", " two", " three", " four"] }],
        tokenDelay: "10 millis"
      }))))

    it.scoped("replay hands the last events to a late subscriber", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ replay: 2 })
        yield* Agent.promptText(agent, "hi")
        const events = yield* Agent.events(agent)
        const replayed = yield* collect(events.pipe(Stream.take(2)))
        assert.deepStrictEqual(tags(replayed), ["TurnEnd", "AgentEnd"])
      }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => "hello" }))))
  })

  // ===========================================================================
  // state and persistence
  // ===========================================================================

  describe("state", () => {
    it.scoped("round-trips through the State schema and restores into another agent", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({
          system: "You help.",
          sessionId: "s1",
          modelName: "scripted",
          tools: Kit,
          handlers
        })
        yield* Agent.promptText(agent, "Weather and time in Oslo?")
        const state = yield* Agent.state(agent)
        assert.strictEqual(state.sessionId, "s1")
        assert.strictEqual(state.model, "scripted")
        const json = yield* Schema.encode(Agent.StateFromJson)(state)
        const decoded = yield* Schema.decode(Agent.StateFromJson)(json)
        assert.deepStrictEqual(decoded, state)
        const other = yield* Agent.make({ tools: Kit, handlers })
        yield* Agent.restore(other, decoded)
        assert.deepStrictEqual(yield* Agent.state(other), state)
        assert.strictEqual(yield* Agent.promptText(other, "And tomorrow?"), "Also cold.")
        const requests = yield* ScriptedEngine.requests
        assert.include(requests.at(-1)!.text, `tool: weather -> {"celsius":4}time -> "12:00 CET"`)
        assert.include(requests.at(-1)!.text, "system: You help.")
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            text: "Let me check.",
            toolCalls: [
              { id: "w1", name: "weather", params: { city: "Oslo" } },
              { id: "t1", name: "time", params: { zone: "CET" } }
            ]
          },
          "It is 4°C at 12:00 CET.",
          "Also cold."
        ]
      }))))

    it.scoped("restore rejects an invalid state with AgentError(InvalidState) naming the field", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const bad = {
          sessionId: "x",
          systemPrompt: "",
          tools: [],
          messages: [{ _tag: "UserMessage", text: 42, timestamp: 0 }]
        } as unknown as Agent.State
        const error = yield* Effect.flip(Agent.restore(agent, bad))
        assert.strictEqual(error.reason, "InvalidState")
        assert.include(error.message, "text")
        assert.lengthOf((yield* Agent.state(agent)).messages, 0)
      }).pipe(Effect.provide(ScriptedEngine.layer({ replies: [] }))))

    it.scoped("reset clears the messages, setSystemPrompt and setModel apply to the next call", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ system: "A", sessionId: "one" })
        yield* Agent.promptText(agent, "hi")
        yield* Agent.reset(agent, { sessionId: "two" })
        yield* Agent.setSystemPrompt(agent, "B")
        const state = yield* Agent.state(agent)
        assert.deepStrictEqual([state.sessionId, state.systemPrompt, state.messages.length], ["two", "B", 0])
        yield* Agent.setModel(agent, yield* DryRun.make({ seed: 1 }), "dry-run")
        const text = yield* Agent.promptText(agent, "again")
        assert.isTrue(text.startsWith("[dry-run] again"))
        assert.strictEqual((yield* Agent.state(agent)).model, "dry-run")
        assert.lengthOf(yield* ScriptedEngine.requests, 1)
      }).pipe(Effect.provide(ScriptedEngine.layer({ reply: () => "hello" }))))

    it.scoped("persist: true saves after every turn and a new agent on the same session resumes it", () =>
      Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const agent = yield* Agent.make({ sessionId: "chat-1", persist: true, tools: Kit, handlers })
          yield* Agent.promptText(agent, "Weather and time in Oslo?")
          return yield* Agent.state(agent)
        }))
        assert.isTrue(Option.isSome(yield* store.get("sluice/agent/chat-1")))
        const resumed = yield* Agent.make({ sessionId: "chat-1", persist: true, tools: Kit, handlers })
        assert.deepStrictEqual(yield* Agent.state(resumed), first)
        const fresh = yield* Agent.make({ sessionId: "chat-2", persist: true })
        assert.lengthOf((yield* Agent.state(fresh)).messages, 0)
      }).pipe(Effect.provide(Layer.merge(twoTools, KeyValueStore.layerMemory))))

    it.scoped("save and load through the KeyValueStore; a corrupt saved state is AgentError(InvalidState)", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ sessionId: "a", system: "S" })
        yield* Agent.promptText(agent, "hi")
        yield* Agent.save(agent)
        const other = yield* Agent.make({})
        assert.isFalse(yield* Agent.load(other, "missing"))
        assert.isTrue(yield* Agent.load(other, "a"))
        assert.deepStrictEqual(yield* Agent.state(other), yield* Agent.state(agent))
        const store = yield* KeyValueStore.KeyValueStore
        yield* store.set("sluice/agent/broken", `{"sessionId":"broken","messages":"nope"}`)
        const error = yield* Effect.flip(Agent.load(other, "broken"))
        assert.strictEqual(error.reason, "InvalidState")
        assert.include(error.message, "messages")
        const made = yield* Effect.flip(Agent.make({ sessionId: "broken", persist: true }))
        assert.strictEqual((made as AgentError).reason, "InvalidState")
      }).pipe(Effect.provide(Layer.merge(ScriptedEngine.layer({ reply: () => "hello" }), KeyValueStore.layerMemory))))

    it.scoped("a failing store fails the prompt with AgentError(Persistence)", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ persist: true })
        const error = yield* Effect.flip(Agent.promptText(agent, "hi"))
        assert.strictEqual((error as AgentError).reason, "Persistence")
        assert.isTrue((error as AgentError).isRetryable)
      }).pipe(Effect.provide(Layer.merge(
        ScriptedEngine.layer({ reply: () => "hello" }),
        Layer.succeed(
          KeyValueStore.KeyValueStore,
          KeyValueStore.makeStringOnly({
            get: () => Effect.succeed(Option.none()),
            getUint8Array: () => Effect.succeed(Option.none()),
            set: () => Effect.fail(new DiskFull()),
            remove: () => Effect.void,
            clear: Effect.void,
            size: Effect.succeed(0)
          } as any)
        )
      ))))

    it.effect("messages and events are serialisable with their schemas", () =>
      Effect.gen(function*() {
        const events = yield* Effect.scoped(Effect.gen(function*() {
          const agent = yield* Agent.make({ tools: Kit, handlers })
          return yield* collect(Agent.prompt(agent, "Weather?"))
        }))
        const codec = Schema.parseJson(Schema.Array(AgentEvent.AgentEvent))
        const json = yield* Schema.encode(codec)(events)
        assert.deepStrictEqual(yield* Schema.decode(codec)(json), events)
      }).pipe(Effect.provide(twoTools)))
  })

  // ===========================================================================
  // as a node
  // ===========================================================================

  describe("as a node", () => {
    it.scoped("toNode: Node.run returns the text; events map onto the shared vocabulary at nested paths", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ tools: Kit, handlers })
        const node = Agent.toNode(agent, { name: "assistant" })
        const events = yield* collect(Node.stream(node, "Weather?", { runId: "r1" }))
        const show = events.map((e) => `${e._tag}:${e.path.join("/")}`)
        assert.deepStrictEqual(show.filter((s) => !s.startsWith("Token") && !s.startsWith("ToolArgProgress")), [
          "StepStart:assistant",
          "StepStart:assistant/turn-1",
          "ToolCall:assistant/turn-1",
          "ToolCall:assistant/turn-1",
          "StepStart:assistant/turn-1/weather:w1",
          "ToolResult:assistant/turn-1",
          "StepEnd:assistant/turn-1/weather:w1",
          "StepStart:assistant/turn-1/time:t1",
          "ToolResult:assistant/turn-1",
          "StepEnd:assistant/turn-1/time:t1",
          "StepEnd:assistant/turn-1",
          "StepStart:assistant/turn-2",
          "StepEnd:assistant/turn-2",
          "StepEnd:assistant"
        ])
        const progress = events.filter(Event.is("ToolArgProgress"))
        assert.deepStrictEqual(progress.map((e) => e.params), [{ city: "Oslo" }, { zone: "CET" }])
        const end = events.at(-1) as Event.Of<"StepEnd">
        assert.strictEqual(end.output, "It is 4°C at 12:00 CET.")
        assert.isAbove(end.usage?.totalTokens ?? 0, 0)
        for (const event of events) yield* Event.encodeJson(event)
        assert.strictEqual(
          yield* Node.collectText(Node.stream(node, "Again?")),
          "Again."
        )
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            text: "Let me check.",
            toolCalls: [
              { id: "w1", name: "weather", params: { city: "Oslo" } },
              { id: "t1", name: "time", params: { zone: "CET" } }
            ]
          },
          "It is 4°C at 12:00 CET.",
          "Again."
        ]
      }))))

    it.scoped("toEvents maps a whole prompt: StepStart first, StepEnd with the text last; progress as PartialFields", () =>
      Effect.gen(function*() {
        const Download = Tool.make("download", { parameters: {}, success: Schema.Number })
        const agent = yield* Agent.make({
          tools: Toolkit.make(Download),
          handlers: { download: (_, { update }) => Effect.as(update({ percent: 50 }), 1) }
        })
        const events = yield* collect(
          Agent.prompt(agent, "get").pipe(Agent.toEvents({ runId: "r", path: ["bot"] }))
        )
        assert.strictEqual(events[0]!._tag, "StepStart")
        const last = events.at(-1) as Event.Of<"StepEnd">
        assert.deepStrictEqual([last._tag, last.path, last.output], ["StepEnd", ["bot"], "got it"])
        const partial = events.find(Event.is("PartialFields"))!
        assert.deepStrictEqual([partial.path, partial.value], [["bot", "turn-1", "download:d"], { percent: 50 }])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [{ toolCalls: [{ id: "d", name: "download", params: {} }] }, "got it"]
      }))))

    it.scoped("an aborted prompt fails the node with AgentError(Aborted)", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const fiber = yield* Effect.fork(Node.run(Agent.toNode(agent), "slow"))
        yield* TestClock.adjust("15 millis")
        yield* Agent.abort(agent)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* Effect.flip(exit)
        assert.strictEqual((error as AgentError).reason, "Aborted")
      }).pipe(Effect.provide(ScriptedEngine.layer({ replies: ["slow answer"], tokenDelay: "10 millis" }))))

    it.effect("Agent.node builds a fresh agent per input: independent conversations, run concurrently", () =>
      Effect.gen(function*() {
        const summarise = Agent.node("summarise", Agent.make({ system: "Summarise." }))
        const fiber = yield* Effect.fork(
          Effect.forEach(["alpha", "beta", "gamma"], (text) => Node.run(summarise, text), { concurrency: 3 })
        )
        yield* TestClock.adjust("10 millis")
        assert.deepStrictEqual(yield* Fiber.join(fiber), ["short alpha", "short beta", "short gamma"])
        const requests = yield* ScriptedEngine.requests
        assert.deepStrictEqual(
          requests.map((r) => r.text).sort(),
          ["alpha", "beta", "gamma"].map((t) => `system: Summarise.\nuser: ${t}`)
        )
      }).pipe(Effect.provide(ScriptedEngine.layer({
        latency: "10 millis",
        reply: (request) => `short ${request.text.split("user: ")[1]}`
      }))))

    it.effect("is a Pipeline step: one fresh agent per item, its events nested under the item", () =>
      Effect.gen(function*() {
        const pipeline = Pipeline.start<string>({ name: "p" }).map(
          "ask",
          Agent.node("bot", Agent.make({ tools: Kit, handlers })),
          { concurrency: 2 }
        )
        const events = yield* collect(pipeline.events(["Oslo", "Rome"]))
        const ends = events.filter((e) => e._tag === "StepEnd" && e.path.length === 4 && e.path[3] === "bot")
        assert.deepStrictEqual(
          ends.map((e) => [e.path[2], (e as Event.Of<"StepEnd">).output]).sort(),
          [["0", "It is 4°C in Oslo."], ["1", "It is 4°C in Rome."]]
        )
        const toolResults = events.filter(Event.is("ToolResult"))
        assert.deepStrictEqual(toolResults.map((e) => e.path).sort(), [
          ["p", "ask", "0", "bot", "turn-1"],
          ["p", "ask", "1", "bot", "turn-1"]
        ])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        reply: (request) => {
          const city = /user: (\w+)/.exec(request.text)![1]!
          return request.text.includes("tool:")
            ? `It is 4°C in ${city}.`
            : { toolCalls: [{ name: "weather", params: { city: "Oslo" } }] }
        }
      }))))

    it.scoped("is a Graph step", () =>
      Effect.gen(function*() {
        interface State {
          readonly question: string
          readonly answer: string
        }
        const agent = yield* Agent.make({ tools: Kit, handlers })
        const graph = Graph.make<State>({ name: "qa" }).step(
          "ask",
          Graph.node(Agent.toNode(agent, { name: "assistant" }), {
            input: (state: State) => state.question,
            output: (answer, state) => ({ ...state, answer })
          })
        )
        const events = yield* collect(Graph.stream(graph, { question: "Weather?", answer: "" }, { runId: "g" }))
        const final = events.filter(Event.is("StepEnd")).at(-1)!.output as State
        assert.strictEqual(final.answer, "It is 4°C at 12:00 CET.")
        const toolResult = events.find(Event.is("ToolResult"))!
        assert.deepStrictEqual(toolResult.path.slice(0, 2), ["qa", "ask"])
        assert.strictEqual(toolResult.path.at(-1), "turn-1")
      }).pipe(Effect.provide(twoTools)))
  })

  // ===========================================================================
  // engines
  // ===========================================================================

  describe("engines", () => {
    it.scoped("runs a two-tool conversation on the dry-run engine, given as an engine Layer", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({
          engine: DryRun.layer({ seed: 3 }),
          modelName: "dry-run",
          tools: Kit,
          handlers
        })
        const events = yield* collect(Agent.prompt(agent, "Weather in Oslo?"))
        const end = events.at(-1) as AgentEvent.Of<"AgentEnd">
        assert.strictEqual(end.reason, "stop")
        assert.strictEqual(end.turns, 2)
        assert.isTrue(end.text.startsWith("[dry-run]"))
        const results = toolResults(yield* Agent.state(agent))
        assert.lengthOf(results, 1)
        assert.isFalse(results[0]!.isError)
      }))

    it.scoped("takes an engine by name from the EngineRegistry; an unknown name is a typed error", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ engine: "fast", tools: Kit, handlers })
        const text = yield* Agent.promptText(agent, "Weather in Oslo?")
        assert.isTrue(text.startsWith("[dry-run]"))
        assert.strictEqual((yield* Agent.state(agent)).model, "fast")
        const error = yield* Effect.flip(Agent.make({ engine: "missing" }))
        assert.strictEqual(error._tag, "EngineRegistryError")
      }).pipe(Effect.provide(
        EngineRegistry.layer({ engines: [{ name: "fast", backend: "dry-run" }] }).pipe(
          Layer.provide(FetchHttpClient.layer)
        )
      )))
  })
})

class DiskFull extends Data.TaggedError("DiskFull")<{}> {}
