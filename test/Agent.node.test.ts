import { Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import type { AgentError } from "../src/AgentError.js"
import * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { collect, handlers, Kit, twoTools, twoToolsThen } from "./Agent.fixtures.js"

describe("Agent", () => {
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
      }).pipe(Effect.provide(twoToolsThen("Again."))))

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
})
