import { AiError } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Stream, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import { AgentError } from "../src/AgentError.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as EngineRegistry from "../src/EngineRegistry.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { assistants, collect, handlers, Kit, outline, toolResults, twoTools } from "./Agent.fixtures.js"

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
