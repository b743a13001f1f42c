import { Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Fiber, Ref, Schema, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { callBoth, collect, handlers, Kit, NotFound, tags, Time, toolResults, Weather } from "./Agent.fixtures.js"

const sumSchema = {
  type: "object",
  properties: { a: { type: "number" }, b: { type: "number" } },
  required: ["a", "b"],
  additionalProperties: false
} as const

const Sum = Agent.jsonSchemaTool("sum", { description: "Add two numbers", parameters: sumSchema })

describe("Agent", () => {
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

  describe("JSON Schema tools", () => {
    it.scoped("arguments are typed and checked against the schema; those that do not conform are error results", () =>
      Effect.gen(function*() {
        const sums: Array<number> = []
        const agent = yield* Agent.make({
          tools: Toolkit.make(Sum),
          handlers: { sum: ({ a, b }) => Effect.sync(() => sums.push(a + b)).pipe(Effect.as(a + b)) }
        })
        assert.strictEqual(yield* Agent.promptText(agent, "Add them"), "Done.")
        const results = toolResults(yield* Agent.state(agent))
        assert.deepStrictEqual(results.map((r) => [r.toolCallId, r.isError]), [
          ["ok", false],
          ["missing", true],
          ["wrong", true],
          ["extra", true],
          ["list", true]
        ])
        assert.strictEqual(results[0]!.result, 5)
        assert.include(results[1]!.result as string, "b: is missing")
        assert.include(results[2]!.result as string, "a: expected number, got string")
        assert.include(results[3]!.result as string, "c: is not allowed")
        assert.include(results[4]!.result as string, "expected a JSON object")
        assert.deepStrictEqual(sums, [5])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          {
            toolCalls: [
              { id: "ok", name: "sum", params: { a: 2, b: 3 } },
              { id: "missing", name: "sum", params: { a: 2 } },
              { id: "wrong", name: "sum", params: { a: "2", b: 3 } },
              { id: "extra", name: "sum", params: { a: 2, b: 3, c: 4 } },
              { id: "list", name: "sum", params: [2, 3] }
            ]
          },
          "Done."
        ]
      }))))

    it("the parameters schema is the JSON Schema verbatim; nested values are checked too", () => {
      assert.deepStrictEqual(Tool.getJsonSchema(Sum) as unknown, sumSchema)
      const Order = Agent.jsonSchemaTool("order", {
        parameters: {
          type: "object",
          properties: {
            size: { enum: ["S", "M", "L"] },
            items: { type: "array", items: { type: "object", properties: { qty: { type: "integer" } } } }
          },
          required: ["size"]
        }
      })
      const decode = Schema.decodeUnknownEither(Order.parametersSchema)
      assert.isTrue(Either.isRight(decode({ size: "M", items: [{ qty: 2 }] })))
      const left = decode({ size: "XL", items: [{ qty: 1.5 }] })
      assert.isTrue(Either.isLeft(left))
      const message = Either.isLeft(left) ? left.left.message : ""
      assert.include(message, `size: expected one of "S", "M", "L", got "XL"`)
      assert.include(message, "items[0].qty: expected integer, got number")
    })

    it.scoped("the dry-run engine calls a JSON Schema tool with arguments that conform", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({
          engine: DryRun.layer({ seed: 5 }),
          tools: Toolkit.make(Sum),
          handlers: { sum: ({ a, b }) => Effect.succeed(a + b) }
        })
        yield* Agent.promptText(agent, "Add two numbers")
        const results = toolResults(yield* Agent.state(agent))
        assert.lengthOf(results, 1)
        assert.isFalse(results[0]!.isError)
        assert.isNumber(results[0]!.result)
      }))
  })

  describe("setTools", () => {
    it.scoped("replaces the tools from the next model call; the running turn keeps the tools it offered", () =>
      Effect.gen(function*() {
        const agent: Agent.Agent = yield* Agent.make({
          tools: Kit,
          handlers: {
            ...handlers,
            time: ({ zone }) =>
              Agent.setTools(agent, Toolkit.make(Sum), { sum: ({ a, b }) => Effect.succeed(a + b) }).pipe(
                Effect.as(`12:00 ${zone}`)
              )
          }
        })
        assert.deepStrictEqual(agent.tools, ["weather", "time"])
        assert.strictEqual(yield* Agent.promptText(agent, "Go"), "Done.")
        assert.deepStrictEqual(agent.tools, ["sum"])
        assert.deepStrictEqual((yield* Agent.state(agent)).tools, ["sum"])
        const requests = yield* ScriptedEngine.requests
        assert.deepStrictEqual(requests.map((r) => r.tools), [["weather", "time"], ["sum"], ["sum"]])
        const results = toolResults(yield* Agent.state(agent))
        assert.deepStrictEqual(results.map((r) => [r.toolName, r.isError]), [
          ["weather", false],
          ["time", false],
          ["sum", false],
          ["weather", true]
        ])
        assert.include(results[3]!.result as string, `unknown tool "weather"; the available tools are: sum`)
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [
          callBoth,
          {
            toolCalls: [
              { id: "s1", name: "sum", params: { a: 1, b: 2 } },
              { id: "w2", name: "weather", params: { city: "Oslo" } }
            ]
          },
          "Done."
        ]
      }))))

    it.scoped("takes its handlers from a toolkit Layer when none are given; Toolkit.empty removes every tool", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const Echo = Tool.make("echo", { parameters: { text: Schema.String }, success: Schema.String })
        const EchoKit = Toolkit.make(Echo)
        yield* Agent.setTools(agent, EchoKit).pipe(
          Effect.provide(EchoKit.toLayer({ echo: ({ text }) => Effect.succeed(text.toUpperCase()) }))
        )
        yield* Agent.promptText(agent, "Echo")
        assert.deepStrictEqual(toolResults(yield* Agent.state(agent)).map((r) => r.result), ["HI"])
        yield* Agent.setTools(agent, Toolkit.empty)
        assert.deepStrictEqual(agent.tools, [])
        yield* Agent.promptText(agent, "Again")
        const requests = yield* ScriptedEngine.requests
        assert.deepStrictEqual(requests.map((r) => r.tools), [["echo"], ["echo"], []])
      }).pipe(Effect.provide(ScriptedEngine.layer({
        replies: [{ toolCalls: [{ id: "e1", name: "echo", params: { text: "hi" } }] }, "Echoed.", "Plain."]
      }))))
  })
})
