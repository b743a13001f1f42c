import { Tool, Toolkit } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Queue, Schema, Stream, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import type { AgentError } from "../src/AgentError.js"
import * as AgentEvent from "../src/AgentEvent.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { collect, handlers, tags, Time, toolResults } from "./Agent.fixtures.js"

describe("Agent", () => {
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
})
