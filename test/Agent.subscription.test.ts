import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Queue, Stream, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { collect, handlers, Kit, tags } from "./Agent.fixtures.js"

describe("Agent", () => {
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
})
