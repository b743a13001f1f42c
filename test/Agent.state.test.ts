import { FetchHttpClient, KeyValueStore } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import * as Agent from "../src/Agent.js"
import type { AgentError } from "../src/AgentError.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as EngineRegistry from "../src/EngineRegistry.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { collect, DiskFull, handlers, Kit, twoTools, twoToolsThen } from "./Agent.fixtures.js"

describe("Agent", () => {
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
      }).pipe(Effect.provide(twoToolsThen("Also cold."))))

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

    it.scoped("setModel by engine name: the registry engine is used from the next call, the one before released", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({ engine: "fast" })
        assert.isTrue((yield* Agent.promptText(agent, "hi")).startsWith("[dry-run]"))
        const refCounts = Effect.map(
          EngineRegistry.status,
          (engines) => Object.fromEntries(engines.map((status) => [status.engine, status.refCount]))
        )
        assert.deepStrictEqual(yield* refCounts, { fast: 1, scripted: 0 })
        yield* Agent.setModel(agent, "scripted")
        assert.deepStrictEqual(yield* refCounts, { fast: 0, scripted: 1 })
        assert.strictEqual(yield* Agent.promptText(agent, "hi"), "Scripted.")
        assert.strictEqual((yield* Agent.state(agent)).model, "scripted")
        const error = yield* Effect.flip(Agent.setModel(agent, "missing"))
        assert.strictEqual(error._tag, "EngineRegistryError")
        assert.strictEqual(yield* Agent.promptText(agent, "hi"), "Scripted.")
        assert.strictEqual((yield* Agent.state(agent)).model, "scripted")
      }).pipe(Effect.provide(
        EngineRegistry.layer({
          engines: [{ name: "fast", backend: "dry-run" }, { name: "scripted", backend: "scripted" }],
          backends: { scripted: () => ScriptedEngine.layer({ reply: () => "Scripted." }) }
        }).pipe(Layer.provide(FetchHttpClient.layer))
      )))

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
})
