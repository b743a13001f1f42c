import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Fiber, Option, Ref, Schedule, Stream, TestClock } from "effect"
import * as Event from "../src/Event.js"
import * as Node from "../src/Node.js"
import { NodeError } from "../src/NodeError.js"
import * as Retriever from "../src/Retriever.js"

class Transient extends Error {
  readonly _tag = "Transient"
  readonly isRetryable = true
}
class Fatal extends Error {
  readonly _tag = "Fatal"
  readonly isRetryable = false
}

const collect = <E, R>(stream: Stream.Stream<Event.Event, E, R>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const tags = (events: ReadonlyArray<Event.Event>) => events.map((e) => e._tag)

const spell = Node.fromStream("spell", (word: string) => Stream.fromIterable(word.split("")))

const constructors = [
  ["fromFunction", Node.fromFunction("f", (s: string) => s.length), "abcd", 4],
  ["fromEffect", Node.fromEffect("e", (s: string) => Effect.succeed(s + "!")), "hi", "hi!"],
  ["fromStream", spell, "abc", "abc"],
  [
    "fromAsyncGenerator",
    Node.fromAsyncGenerator("g", async function*(s: string) {
      for (const word of s.split(" ")) yield word + "."
    }),
    "a b",
    "a.b."
  ],
  ["Retriever.make", Retriever.make("r", (q: number) => Stream.range(1, q)), 3, [1, 2, 3]],
  ["Retriever.fromEffect", Retriever.fromEffect("r2", (q: string) => Effect.succeed(q.split(""))), "xy", ["x", "y"]],
  ["make", Node.make("m", (n: number) => Stream.make(Node.output(n * 10))), 4, 40]
] as const

describe("Node", () => {
  describe("stream/run parity", () => {
    for (const [name, node, input, expected] of constructors) {
      it.effect(name, () =>
        Effect.gen(function*() {
          const events = yield* collect(Node.stream(node as Node.Node<unknown, unknown>, input, { runId: "run-1" }))
          const output = yield* Node.run(node as Node.Node<unknown, unknown>, input)
          assert.deepStrictEqual(output, expected)
          assert.strictEqual(events[0]!._tag, "StepStart")
          const last = events.at(-1)!
          assert.strictEqual(last._tag, "StepEnd")
          assert.deepStrictEqual(last._tag === "StepEnd" ? last.output : undefined, output)
          for (const event of events) {
            assert.strictEqual(event.runId, "run-1")
            assert.deepStrictEqual(event.path, [node.name])
          }
        }))
    }

    it.effect("effect nodes run directly and agree with their stream, through map, timeout and withPath", () =>
      Effect.gen(function*() {
        const node = Node.fromEffect(
          "len",
          (s: string) => s === "" ? Effect.fail(new Fatal("empty")) : Effect.succeed(s)
        )
          .pipe(Node.map((s) => s.length), Node.timeout("1 second"), Node.withPath("length"))
        assert.isDefined(node.effect)
        assert.strictEqual(yield* Node.run(node, "abc"), 3)
        assert.deepStrictEqual(yield* Node.finalResult(Node.stream(node, "abc")), Option.some(3))
        assert.deepStrictEqual(yield* Effect.flip(Node.run(node, "")), new Fatal("empty"))
        assert.deepStrictEqual(yield* Effect.flip(Stream.runDrain(Node.stream(node, ""))), new Fatal("empty"))
        // an observed node goes through its stream, so observers see every event
        const seen: Array<string> = []
        const observed = node.pipe(Node.observe((e) => Effect.sync(() => seen.push(e._tag))))
        assert.strictEqual(yield* Node.run(observed, "ab"), 2)
        assert.deepStrictEqual(seen, ["StepStart", "StepEnd"])
      }))

    it.effect("token nodes stream one Token per element, in order", () =>
      Effect.gen(function*() {
        const events = yield* collect(Node.stream(spell, "abc"))
        assert.deepStrictEqual(tags(events), ["StepStart", "Token", "Token", "Token", "StepEnd"])
        assert.strictEqual(yield* Node.collectText(Node.stream(spell, "abc")), "abc")
        assert.deepStrictEqual(Chunk.toArray(yield* Stream.runCollect(Node.tokens(Node.stream(spell, "xy")))), [
          "x",
          "y"
        ])
      }))

    it.effect("retrievers stream RetrievalItem events with index and score", () =>
      Effect.gen(function*() {
        const search = Retriever.make("search", (q: string) => Stream.make({ doc: q, score: 0.5 }), {
          score: (item) => item.score
        })
        const events = yield* collect(Node.stream(search, "x"))
        const item = events.find(Event.is("RetrievalItem"))!
        assert.strictEqual(item.index, 0)
        assert.strictEqual(item.score, 0.5)
        assert.deepStrictEqual(item.item, { doc: "x", score: 0.5 })
      }))

    it.effect("paths nest under a parent", () =>
      Effect.gen(function*() {
        const events = yield* collect(Node.stream(spell, "a", { parent: ["graph", "branch"] }))
        for (const event of events) assert.deepStrictEqual(event.path, ["graph", "branch", "spell"])
        const renamed = yield* collect(Node.stream(spell.pipe(Node.withPath("letters")), "a"))
        assert.deepStrictEqual(renamed[0]!.path, ["letters"])
      }))

    it.effect("timestamps come from the Clock", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(123_456)
        const events = yield* collect(Node.stream(spell, "ab"))
        for (const event of events) assert.strictEqual(event.timestamp, 123_456)
      }))

    it.effect("a failing node streams StepError, then fails with its typed error", () =>
      Effect.gen(function*() {
        const boom = Node.fromEffect("boom", (_: string) => Effect.fail(new Fatal("no")))
        const events: Array<Event.Event> = []
        const result = yield* Node.stream(boom, "x").pipe(
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.either
        )
        assert.isTrue(Either.isLeft(result))
        assert.deepStrictEqual(tags(events), ["StepStart", "StepError"])
        const error = events[1] as Event.Of<"StepError">
        assert.strictEqual(error.error, "Fatal")
        assert.strictEqual(error.message, "no")
        assert.isFalse(error.retryable)
        const run = yield* Effect.either(Node.run(boom, "x"))
        assert.deepStrictEqual(run, Either.left(new Fatal("no")))
      }))

    it.effect("async generator exceptions become NodeError(Exception)", () =>
      Effect.gen(function*() {
        const node = Node.fromAsyncGenerator("gen", async function*(_: string) {
          yield "a"
          throw new Error("generator broke")
        })
        const error = yield* Effect.flip(Node.run(node, "x"))
        assert.instanceOf(error, NodeError)
        assert.strictEqual(error.reason, "Exception")
        assert.include(error.message, "generator broke")
      }))
  })

  describe("retry", () => {
    it.effect("retries retryable errors on the schedule and emits Retry events", () =>
      Effect.gen(function*() {
        const calls = yield* Ref.make(0)
        const flaky = Node.make("flaky", (s: string) =>
          Stream.unwrap(
            Ref.updateAndGet(calls, (n) => n + 1).pipe(Effect.map((n) =>
              Stream.concat(
                Stream.make({ _tag: "Token", runId: "r", path: ["flaky"], timestamp: 0, text: `try${n} ` } as const),
                n < 3 ? Stream.fail(new Transient(`attempt ${n}`)) : Stream.make(Node.output(`${s} ok`))
              )
            ))
          ))
        const node = flaky.pipe(Node.retry({ schedule: Schedule.spaced("1 second") }))
        const fiber = yield* Effect.fork(collect(Node.stream(node, "x")))
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        const events = yield* Fiber.join(fiber)
        assert.deepStrictEqual(tags(events), ["StepStart", "Token", "Retry", "Token", "Retry", "Token", "StepEnd"])
        const retries = events.filter(Event.is("Retry"))
        assert.deepStrictEqual(retries.map((r) => [r.attempt, r.error, r.message, r.delayMs]), [
          [1, "Transient", "attempt 1", 1000],
          [2, "Transient", "attempt 2", 1000]
        ])
        assert.strictEqual(yield* Ref.get(calls), 3)
        // collectText discards what failed attempts streamed
        yield* Ref.set(calls, 0)
        const textFiber = yield* Effect.fork(Node.collectText(Node.stream(node, "x")))
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* Fiber.join(textFiber), "try3 ")
      }))

    it.effect("does not retry errors that are not retryable", () =>
      Effect.gen(function*() {
        const calls = yield* Ref.make(0)
        const node = Node.fromEffect("fatal", (_: string) =>
          Effect.zipRight(Ref.update(calls, (n) => n + 1), Effect.fail(new Fatal("stop"))))
          .pipe(Node.retry(Schedule.recurs(5)))
        const events: Array<Event.Event> = []
        const result = yield* Node.stream(node, "x").pipe(
          Stream.runForEach((e) =>
            Effect.sync(() => events.push(e))
          ),
          Effect.either
        )
        assert.isTrue(Either.isLeft(result))
        assert.strictEqual(yield* Ref.get(calls), 1)
        assert.isFalse(events.some(Event.is("Retry")))
      }))

    it.effect("gives up when the schedule is exhausted, with the last error", () =>
      Effect.gen(function*() {
        const calls = yield* Ref.make(0)
        const node = Node.fromEffect("flaky", (_: string) =>
          Effect.flatMap(
            Ref.updateAndGet(calls, (n) => n + 1),
            (n) => Effect.fail(new Transient(`attempt ${n}`))
          ))
          .pipe(Node.retry({ schedule: Schedule.recurs(2), while: (e: Transient) => e._tag === "Transient" }))
        const error = yield* Effect.flip(Node.run(node, "x"))
        assert.strictEqual(error.message, "attempt 3")
        assert.strictEqual(yield* Ref.get(calls), 3)
      }))
  })

  describe("timeout", () => {
    it.effect("fails with NodeError(Timeout) after the duration", () =>
      Effect.gen(function*() {
        const slow = Node.fromEffect("slow", (_: string) => Effect.as(Effect.sleep("10 seconds"), "done"))
          .pipe(Node.timeout("3 seconds"))
        const fiber = yield* Effect.fork(Effect.either(Node.run(slow, "x")))
        yield* TestClock.adjust("3 seconds")
        const result = yield* Fiber.join(fiber)
        assert.isTrue(Either.isLeft(result))
        const error = (result as Either.Left<NodeError, string>).left
        assert.strictEqual(error.reason, "Timeout")
        assert.isTrue(error.isRetryable)
      }))

    it.effect("lets a node that finishes in time through", () =>
      Effect.gen(function*() {
        const quick = Node.fromEffect("quick", (_: string) => Effect.as(Effect.sleep("1 second"), "done"))
          .pipe(Node.timeout("3 seconds"))
        const fiber = yield* Effect.fork(Node.run(quick, "x"))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(fiber), "done")
      }))
  })

  describe("heartbeat", () => {
    it.effect("beats every interval while the node is idle, and restarts after each event", () =>
      Effect.gen(function*() {
        const node = Node.fromStream("slow", (_: string) =>
          Stream.concat(
            Stream.fromEffect(Effect.as(Effect.sleep("2500 millis"), "a")),
            Stream.fromEffect(Effect.as(Effect.sleep("1500 millis"), "b"))
          )).pipe(Node.heartbeat("1 second"))
        const fiber = yield* Effect.fork(collect(Node.stream(node, "x")))
        for (let i = 0; i < 8; i++) yield* TestClock.adjust("500 millis")
        const events = yield* Fiber.join(fiber)
        const timeline = events.map((e) => `${e._tag}@${e.timestamp}`)
        assert.deepStrictEqual(timeline, [
          "StepStart@0",
          "Heartbeat@1000",
          "Heartbeat@2000",
          "Token@2500",
          "Heartbeat@3500",
          "Token@4000",
          "StepEnd@4000"
        ])
        assert.deepStrictEqual(events.filter(Event.is("Heartbeat")).map((h) => h.idleMs), [1000, 1000, 1000])
      }))
  })

  describe("fallback", () => {
    it.effect("before the first token the switch is invisible", () =>
      Effect.gen(function*() {
        const primary = Node.fromEffect("primary", (_: string) => Effect.fail(new Transient("down")))
        const node = primary.pipe(Node.fallback(spell))
        const events = yield* collect(Node.stream(node, "ok"))
        assert.deepStrictEqual(tags(events), ["StepStart", "Token", "Token", "StepEnd"])
        assert.strictEqual(yield* Node.run(node, "ok"), "ok")
      }))

    it.effect("after the first token a Retry event is emitted and the text restarts", () =>
      Effect.gen(function*() {
        const primary = Node.fromStream("primary", (_: string) =>
          Stream.concat(Stream.make("par", "tial"), Stream.fail(new Transient("cut"))))
        const node = primary.pipe(Node.fallback(spell))
        const events = yield* collect(Node.stream(node, "ok"))
        assert.deepStrictEqual(tags(events), ["StepStart", "Token", "Token", "Retry", "Token", "Token", "StepEnd"])
        assert.strictEqual(yield* Node.collectText(Node.stream(node, "ok")), "ok")
        assert.strictEqual(yield* Node.run(node, "ok"), "ok")
      }))
  })

  describe("observe", () => {
    it.effect("sees every event, the node's own StepStart and StepEnd included", () =>
      Effect.gen(function*() {
        const seen = yield* Ref.make<Array<string>>([])
        const node = spell.pipe(Node.observe((e) => Ref.update(seen, (all) => [...all, e._tag])))
        yield* Node.run(node, "ab")
        assert.deepStrictEqual(yield* Ref.get(seen), ["StepStart", "Token", "Token", "StepEnd"])
      }))
  })

  describe("interruption", () => {
    it.live("interrupting the consumer interrupts the node and runs its finalizers", () =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const released = yield* Deferred.make<void>()
        const node = Node.fromStream("endless", (_: string) =>
          Stream.acquireRelease(Deferred.succeed(started, undefined), () =>
            Deferred.succeed(released, undefined)).pipe(
              Stream.flatMap(() => Stream.repeatEffect(Effect.as(Effect.sleep("1 millis"), "tick")))
            ))
        const fiber = yield* Effect.fork(Stream.runDrain(Node.stream(node, "x")))
        yield* Deferred.await(started)
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* Deferred.isDone(released))
      }))

    it.effect("an effect node streams StepStart before its effect ends, and interrupting stops the effect", () =>
      Effect.gen(function*() {
        const first = yield* Deferred.make<string>()
        const released = yield* Deferred.make<void>()
        const slow = Node.fromEffect(
          "slow",
          (_: string) => Effect.onInterrupt(Effect.never, () => Deferred.succeed(released, undefined))
        )
        const fiber = yield* Effect.fork(
          Stream.runForEach(Node.stream(slow, "x"), (e) => Deferred.succeed(first, e._tag))
        )
        assert.strictEqual(yield* Deferred.await(first), "StepStart")
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* Deferred.isDone(released))
      }))

    it.live("interrupting stops an async generator through its AbortSignal", () =>
      Effect.gen(function*() {
        const aborted = yield* Deferred.make<void>()
        const node = Node.fromAsyncGenerator("gen", async function*(_: string, signal) {
          signal.addEventListener("abort", () => Effect.runSync(Deferred.succeed(aborted, undefined)))
          while (!signal.aborted) {
            yield "tick"
            await new Promise((resolve) => setTimeout(resolve, 1))
          }
        })
        const fiber = yield* Effect.fork(Stream.runDrain(Stream.take(Node.stream(node, "x"), 5)))
        yield* Fiber.join(fiber)
        yield* Deferred.await(aborted).pipe(Effect.timeout("1 second"))
        assert.isTrue(yield* Deferred.isDone(aborted))
      }))
  })

  describe("helpers", () => {
    it.effect("finalResult returns the output of the last StepEnd", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* Node.finalResult(Node.stream(spell, "ab")), Option.some("ab"))
        assert.deepStrictEqual(yield* Node.finalResult(Stream.empty), Option.none())
      }))

    it.effect("map transforms the output, keeping the events", () =>
      Effect.gen(function*() {
        const length = spell.pipe(Node.map((s) => s.length))
        assert.strictEqual(yield* Node.run(length, "abc"), 3)
      }))
  })
})
