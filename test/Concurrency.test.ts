import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Data, Deferred, Effect, Exit, Fiber, Option, Ref, Stream, TestClock } from "effect"
import * as Concurrency from "../src/Concurrency.js"

class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Runs `effect` in a fiber, advances the test clock by `ms`, and joins it. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, ms: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(ms)
    return yield* Fiber.join(fiber)
  })

describe("Concurrency.mapEffect", () => {
  it.effect("keeps input order when ordered, completion order when not", () =>
    Effect.gen(function*() {
      const latency = [50, 10, 40, 20, 30]
      const work = (n: number) => Effect.as(Effect.sleep(latency[n]!), n)
      const ordered = yield* withTime(
        collect(Stream.range(0, 4).pipe(Concurrency.mapEffect(work, { concurrency: 5 }))),
        100
      )
      const unordered = yield* withTime(
        collect(Stream.range(0, 4).pipe(Concurrency.mapEffect(work, { concurrency: 5, ordered: false }))),
        100
      )
      assert.deepStrictEqual(ordered, [0, 1, 2, 3, 4])
      assert.deepStrictEqual(unordered, [1, 3, 4, 2, 0])
    }))

  it.effect("runs at most `concurrency` elements at once, and all of them in parallel", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const work = (n: number) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            running++
            peak = Math.max(peak, running)
          }),
          () => Effect.as(Effect.sleep(10), n),
          () => Effect.sync(() => running--)
        )
      const fiber = yield* Effect.fork(
        collect(Stream.range(1, 40).pipe(Concurrency.mapEffect(work, { concurrency: 8 })))
      )
      yield* TestClock.adjust(10)
      const afterOneRound = peak
      yield* TestClock.adjust(100)
      const out = yield* Fiber.join(fiber)
      assert.strictEqual(out.length, 40)
      assert.strictEqual(afterOneRound, 8)
      assert.strictEqual(peak, 8)
    }))

  it.effect("passes each element's index", () =>
    Effect.gen(function*() {
      const out = yield* collect(
        Stream.make("a", "b", "c").pipe(
          Concurrency.mapEffect((s, i) => Effect.succeed(`${s}${i}`), { concurrency: 2 })
        )
      )
      assert.deepStrictEqual(out, ["a0", "b1", "c2"])
    }))

  it.effect("a downstream take stops upstream work: at most n + concurrency + bufferSize elements start", () =>
    Effect.gen(function*() {
      let started = 0
      const out = yield* withTime(
        collect(
          Stream.iterate(0, (n) => n + 1).pipe(
            Concurrency.mapEffect((n) =>
              Effect.suspend(() => {
                started++
                return Effect.as(Effect.sleep(1 + (n % 3)), n)
              }), { concurrency: 4, bufferSize: 8 }),
            Stream.take(10)
          )
        ),
        1_000
      )
      assert.deepStrictEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      assert.isAtMost(started, 10 + 4 + 8)
      assert.isAtLeast(started, 10)
    }))

  it.effect("a slow consumer bounds the elements started and not yet passed on", () =>
    Effect.gen(function*() {
      let started = 0
      let handed = 0
      let consumed = 0
      let worstHanded = 0
      let worstConsumed = 0
      const stream = Stream.range(1, 60).pipe(
        Concurrency.mapEffect((n) =>
          Effect.sync(() => {
            started++
            worstHanded = Math.max(worstHanded, started - handed)
            worstConsumed = Math.max(worstConsumed, started - consumed)
            return n
          }), { concurrency: 4, bufferSize: 4, ordered: false }),
        Stream.mapChunks((chunk) => {
          handed += chunk.length
          return chunk
        }),
        Stream.rechunk(1),
        Stream.mapEffect((n) => Effect.as(Effect.sleep(5), n)),
        Stream.tap(() => Effect.sync(() => consumed++))
      )
      const out = yield* withTime(collect(stream), 5 * 60 + 10)
      assert.strictEqual(out.length, 60)
      // the pool's own bound: concurrency + bufferSize
      assert.isAtMost(worstHanded, 4 + 4)
      // plus at most one chunk of that size waiting downstream
      assert.isAtMost(worstConsumed, 2 * (4 + 4))
    }))

  it.effect("elements whose effect is already complete keep the same bound (the consumer starts them itself)", () =>
    Effect.gen(function*() {
      let started = 0
      let handed = 0
      let worst = 0
      const stream = Stream.range(1, 200).pipe(
        Concurrency.mapEffect((n) => {
          started++
          worst = Math.max(worst, started - handed)
          return Effect.succeed(n)
        }, { concurrency: 4, bufferSize: 4 }),
        Stream.mapChunks((chunk) => {
          handed += chunk.length
          return chunk
        })
      )
      const out = yield* collect(stream)
      assert.deepStrictEqual(out, Array.from({ length: 200 }, (_, i) => i + 1))
      assert.isAtMost(worst, 4 + 4)
    }))

  it.effect("results are handed on while a slow upstream is pulled", () =>
    Effect.gen(function*() {
      const source = Stream.fromEffect(Effect.as(Effect.sleep(1), 1)).pipe(
        Stream.concat(Stream.make(2)),
        Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep(1_000), 3)))
      )
      const fiber = yield* Effect.fork(
        collect(source.pipe(
          Concurrency.mapEffect((n) => Effect.as(Effect.sleep(10), n), { concurrency: 2 }),
          Stream.take(2)
        ))
      )
      yield* TestClock.adjust(20)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [1, 2])
    }))

  it.effect("fails with the first failure and starts nothing after it", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const exit = yield* Stream.range(1, 100).pipe(
        Concurrency.mapEffect((n) =>
          Effect.suspend(() => {
            seen.push(n)
            return n === 3 ? Effect.fail(new Boom({ n })) : Effect.succeed(n)
          }), { concurrency: 2 }),
        Stream.runCollect,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.deepStrictEqual(Cause.failureOption(exit.cause), Option.some(new Boom({ n: 3 })))
      assert.isAtMost(seen.length, 3 + 2 + Concurrency.defaultBufferSize)
      assert.isFalse(seen.includes(100))
    }))

  it.effect("passes upstream failures on", () =>
    Effect.gen(function*() {
      const result = yield* Stream.concat(Stream.make(1, 2), Stream.fail("upstream")).pipe(
        Concurrency.mapEffect((n) => Effect.succeed(n), { concurrency: 3 }),
        Stream.runCollect,
        Effect.flip
      )
      assert.strictEqual(result, "upstream")
    }))

  it.effect("a function that throws is a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Stream.make(1, 2, 3).pipe(
        Concurrency.mapEffect((n): Effect.Effect<number> => {
          if (n === 2) throw new Error("thrown")
          return Effect.succeed(n)
        }, { concurrency: 2 }),
        Stream.runCollect,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))

  it.effect("interrupting the consumer interrupts every element in flight and runs its finalizers", () =>
    Effect.gen(function*() {
      const released = yield* Ref.make(0)
      const started = yield* Ref.make(0)
      const work = (n: number) =>
        Effect.acquireUseRelease(
          Ref.update(started, (k) => k + 1),
          () => Effect.as(Effect.sleep("1 hour"), n),
          () => Ref.update(released, (k) => k + 1)
        )
      const fiber = yield* Effect.fork(
        Stream.runDrain(Stream.range(1, 100).pipe(Concurrency.mapEffect(work, { concurrency: 6 })))
      )
      yield* TestClock.adjust(10)
      assert.strictEqual(yield* Ref.get(started), 6)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* Ref.get(released), 6)
    }))

  it.effect("with concurrency 1, fast elements come in chunks and slow ones as soon as each completes", () =>
    Effect.gen(function*() {
      const fast = yield* Stream.range(1, 300).pipe(
        Concurrency.mapEffect((n) => Effect.succeed(n), { bufferSize: 100 }),
        Stream.chunks,
        Stream.map(Chunk.size),
        Stream.runCollect
      )
      assert.deepStrictEqual(Chunk.toArray(fast), [100, 100, 100])
      const arrivals: Array<number> = []
      const fiber = yield* Stream.range(1, 3).pipe(
        Concurrency.mapEffect((n) => Effect.as(Effect.sleep(10), n)),
        Stream.runForEach((n) => Effect.sync(() => arrivals.push(n))),
        Effect.fork
      )
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(arrivals, [1])
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(arrivals, [1, 2])
      yield* TestClock.adjust(10)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(arrivals, [1, 2, 3])
    }))

  it.effect("handles empty streams and single elements", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* collect(Stream.empty.pipe(Concurrency.mapEffect(Effect.succeed, { concurrency: 4 }))),
        []
      )
      assert.deepStrictEqual(
        yield* collect(Stream.make(7).pipe(Concurrency.mapEffect((n) => Effect.succeed(n + 1), { concurrency: 4 }))),
        [8]
      )
    }))

  it.effect("stop: no more elements, those in flight interrupted and dropped, those complete emitted", () =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      const interrupted = yield* Ref.make(0)
      // element n takes n * 10 ms; the stop comes at 25 ms: 0, 1 and 2 are complete, 3 to 7 in flight (5 workers)
      const work = (n: number) =>
        Effect.as(Effect.sleep(n * 10), n).pipe(Effect.onInterrupt(() => Ref.update(interrupted, (i) => i + 1)))
      const fiber = yield* Stream.range(0, 99).pipe(
        Concurrency.mapEffect(work, { concurrency: 5, ordered: false, stop: Deferred.await(stop) }),
        collect,
        Effect.fork
      )
      yield* TestClock.adjust(25)
      yield* Deferred.succeed(stop, undefined)
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [0, 1, 2])
      assert.strictEqual(yield* Ref.get(interrupted), 5)
    }))

  it.effect("stop ends the stream at once while upstream is slow", () =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      const source = Stream.fromEffect(Effect.as(Effect.sleep(1), 1)).pipe(
        Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep(1_000), 2)))
      )
      const fiber = yield* source.pipe(
        Concurrency.mapEffect((n) => Effect.succeed(n), { concurrency: 2, stop: Deferred.await(stop) }),
        collect,
        Effect.fork
      )
      yield* TestClock.adjust(10)
      yield* Deferred.succeed(stop, undefined)
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [1])
    }))

  it.effect("rejects a non-positive or fractional concurrency or bufferSize with a defect", () =>
    Effect.gen(function*() {
      for (const options of [{ concurrency: 0 }, { concurrency: 1.5 }, { bufferSize: 0 }]) {
        const exit = yield* Effect.exit(collect(Stream.make(1).pipe(Concurrency.mapEffect(Effect.succeed, options))))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        if (Exit.isFailure(exit)) {
          const defect = Cause.squash(exit.cause)
          assert.isTrue(Cause.isIllegalArgumentException(defect))
        }
      }
    }))
})

describe("Concurrency.filterMapEffect and forEach", () => {
  it.effect("filterMapEffect keeps the Some results, in order", () =>
    Effect.gen(function*() {
      const out = yield* collect(
        Stream.range(1, 10).pipe(
          Concurrency.filterMapEffect(
            (n) => Effect.as(Effect.yieldNow(), n % 3 === 0 ? Option.some(n * 10) : Option.none()),
            { concurrency: 3 }
          )
        )
      )
      assert.deepStrictEqual(out, [30, 60, 90])
    }))

  it.effect("forEach collects the results of an iterable", () =>
    Effect.gen(function*() {
      const out = yield* withTime(
        Concurrency.forEach(["a", "bb", "ccc"], (s, i) => Effect.as(Effect.sleep(10 - i), s.length + i), {
          concurrency: 3
        }),
        20
      )
      assert.deepStrictEqual(out, [1, 3, 5])
    }))
})
