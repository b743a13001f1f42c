import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Metric, MetricLabel, Option, Ref, Stream, TestClock } from "effect"
import * as Event from "../../src/Event.js"
import * as Pipeline from "../../src/Pipeline.js"
import { PipelineError } from "../../src/PipelineError.js"
import { collect, Fatal, withTime } from "./helpers.js"

describe("Pipeline concurrency", () => {
  it.effect("ordered keeps input order, unordered emits in completion order", () =>
    Effect.gen(function*() {
      const latency = (n: number) => Effect.as(Effect.sleep(100 - n * 10), n)
      const ordered = Pipeline.start<number>().map("slow", latency, { concurrency: 5 })
      const unordered = Pipeline.start<number>().map("slow", latency, { concurrency: 5, ordered: false })
      assert.deepStrictEqual(yield* withTime(ordered.executeToArray([1, 2, 3, 4, 5]), 100), [1, 2, 3, 4, 5])
      assert.deepStrictEqual(yield* withTime(unordered.executeToArray([1, 2, 3, 4, 5]), 100), [5, 4, 3, 2, 1])
    }))

  it.effect("take stops upstream: at most n + concurrency + bufferSize items are started", () =>
    Effect.gen(function*() {
      let pulled = 0
      let started = 0
      const source = Stream.iterate(0, (n) => n + 1).pipe(
        Stream.rechunk(1),
        Stream.tap(() => Effect.sync(() => pulled++))
      )
      const p = Pipeline.start<number>()
        .map("work", (n) =>
          Effect.suspend(() => {
            started++
            return Effect.as(Effect.sleep(10 + (n % 4)), n)
          }), { concurrency: 4, bufferSize: 4 })
        .take("first", 5)
      assert.deepStrictEqual(yield* withTime(p.executeToArray(source), 1_000), [0, 1, 2, 3, 4])
      assert.isAtMost(started, 5 + 4 + 4)
      assert.isAtMost(pulled, 5 + 4 + 4 + 1)
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.steps[1]!.outputs, 5)
    }))

  it.effect("a slow consumer bounds the items in flight", () =>
    Effect.gen(function*() {
      let started = 0
      let consumed = 0
      let worst = 0
      const p = Pipeline.start<number>().map("fast", (n) =>
        Effect.sync(() => {
          started++
          worst = Math.max(worst, started - consumed)
          return n
        }), { concurrency: 3, bufferSize: 2 })
      const run = p.execute(Array.from({ length: 50 }, (_, i) => i)).pipe(
        Stream.rechunk(1),
        Stream.mapEffect((n) => Effect.as(Effect.sleep(5), n)),
        Stream.tap(() => Effect.sync(() => consumed++)),
        Stream.runCount
      )
      assert.strictEqual(yield* withTime(run, 300), 50)
      assert.isAtMost(worst, 2 * (3 + 2))
    }))

  it.effect("interrupting the run interrupts every item in flight and runs its finalizers", () =>
    Effect.gen(function*() {
      const started = yield* Ref.make(0)
      const released = yield* Ref.make(0)
      const p = Pipeline.start<number>({ name: "int" }).map("hang", (n) =>
        Effect.acquireUseRelease(
          Ref.update(started, (k) => k + 1),
          () => Effect.as(Effect.never, n),
          () => Ref.update(released, (k) => k + 1)
        ), { concurrency: 5 })
      const fiber = yield* Effect.fork(p.executeToArray(Array.from({ length: 20 }, (_, i) => i)))
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Ref.get(started), 5)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* Ref.get(released), 5)
      assert.strictEqual((yield* p.metadata).status, "interrupted")
    }))
})

describe("Pipeline metadata and events", () => {
  it.effect("reports counts and p50/p95/p99 of known latencies", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "latency-meta" })
        .map("sleep", (ms) => Effect.as(Effect.sleep(ms), ms))
        .filter("even", (n) => n % 2 === 0)
      const inputs = Array.from({ length: 100 }, (_, i) => i + 1)
      const out = yield* withTime(p.executeToArray(inputs), 6_000)
      assert.strictEqual(out.length, 50)
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.status, "success")
      assert.strictEqual(metadata.durationMs, 5050)
      const [sleep, even] = metadata.steps
      assert.deepStrictEqual(
        [sleep!.items, sleep!.outputs, sleep!.p50, sleep!.p95, sleep!.p99, sleep!.samples],
        [100, 100, 50, 95, 99, 100]
      )
      assert.strictEqual(sleep!.durationMs, 5050)
      assert.closeTo(sleep!.throughput, 100 / 5.05, 0.01)
      assert.deepStrictEqual([even!.items, even!.outputs, even!.errors, even!.retries], [100, 50, 0, 0])
      // the same durations feed the Effect Metric summary
      const labels = [MetricLabel.make("pipeline", "latency-meta"), MetricLabel.make("step", "sleep")]
      const summary = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.duration, labels))
      assert.strictEqual(summary.count, 100)
      assert.strictEqual(summary.sum, 5050)
      assert.deepStrictEqual(summary.quantiles.map(([q, v]) => [q, Option.getOrUndefined(v)]), [[0.5, 50], [0.95, 95], [
        0.99,
        99
      ]])
    }))

  it.effect("samples a share of the items and keeps a bounded reservoir", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "sampled", sampleRate: 0.1, reservoirSize: 5 })
        .map("sleep", (ms) => Effect.as(Effect.sleep(ms), ms))
      yield* withTime(p.executeToArray(Array.from({ length: 100 }, (_, i) => i + 1)), 6_000)
      const [step] = (yield* p.metadata).steps
      assert.strictEqual(step!.samples, 10)
      assert.isDefined(step!.p50)
    }))

  it.effect("exposes the counts as Effect Metrics labelled by pipeline and step", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "metrics-test" })
        .map("work", (n) => n === 3 ? Effect.fail(new Fatal({ n })) : Effect.succeed(n), {
          errorStrategy: "SKIP_FAILED"
        })
      yield* p.executeToArray([1, 2, 3, 4])
      const labels = [MetricLabel.make("pipeline", "metrics-test"), MetricLabel.make("step", "work")]
      const items = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.items, labels))
      const outputs = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.outputs, labels))
      const errors = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.errors, labels))
      assert.deepStrictEqual([items.count, outputs.count, errors.count], [4, 3, 1])
    }))

  it.effect("the steps' code runs under the run's Pipeline.execute span", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const record = (where: string) =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
          Effect.sync(() => {
            seen.push(`${where}:${Option.isSome(span) ? span.value.name : "none"}`)
          }))
      // one pipeline per kind of step, so that no step's span reaches another's code
      const pipelines = [
        Pipeline.start<number>().map("one", (n) => Effect.as(record("map c=1"), n)),
        Pipeline.start<number>().map("four", (n) => Effect.as(record("map c=4"), n), { concurrency: 4 }),
        Pipeline.start<number>().flatMap("expand", (n) => Stream.fromEffect(Effect.as(record("flatMap"), n))),
        Pipeline.start<number>().add(
          "stream",
          ({ input }) => Stream.mapEffect(input, (n) => Effect.as(record("add"), n))
        )
      ]
      for (const p of pipelines) assert.deepStrictEqual(yield* p.executeToArray([1]), [1])
      yield* Pipeline.start<number>().executeToArray(Stream.fromEffect(Effect.as(record("input"), 1)))
      assert.deepStrictEqual(seen, [
        "map c=1:Pipeline.execute",
        "map c=4:Pipeline.execute",
        "flatMap:Pipeline.execute",
        "add:Pipeline.execute",
        "input:Pipeline.execute"
      ])
    }))

  it.effect("metadata is idle before the first run", () =>
    Effect.gen(function*() {
      const metadata = yield* Pipeline.start<number>({ name: "idle" }).metadata
      assert.strictEqual(metadata.status, "idle")
      assert.deepStrictEqual(metadata.steps, [])
    }))

  it.effect("events streams RunStart, per-item StepStart/StepEnd/StepError and RunEnd", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "ev" })
        .map("double", (n) => Effect.succeed(n * 2))
        .map("check", (n) => n === 4 ? Effect.fail(new Fatal({ n })) : Effect.succeed(n), {
          errorStrategy: "SKIP_FAILED"
        })
        .batch("pairs", 2)
      const events = yield* collect(p.events([1, 2, 3], { runId: "run-1" }))
      const shown = events.map((e) =>
        `${e._tag}:${e.path.join("/")}${"item" in e && e.item !== undefined ? `#${e.item}` : ""}`
      )
      assert.deepStrictEqual(shown.filter((s) => s.includes("double")), [
        "StepStart:ev/double#0",
        "StepEnd:ev/double#0",
        "StepStart:ev/double#1",
        "StepEnd:ev/double#1",
        "StepStart:ev/double#2",
        "StepEnd:ev/double#2"
      ])
      assert.deepStrictEqual(shown.filter((s) => s.includes("check")), [
        "StepStart:ev/check#0",
        "StepEnd:ev/check#0",
        "StepStart:ev/check#1",
        "StepError:ev/check#1",
        "StepStart:ev/check#2",
        "StepEnd:ev/check#2"
      ])
      assert.strictEqual(shown[0], "RunStart:ev")
      assert.strictEqual(shown[shown.length - 1], "RunEnd:ev")
      assert.isTrue(events.every((e) => e.runId === "run-1"))
      const error = events.find(Event.is("StepError"))!
      assert.deepStrictEqual([error.error, error.retryable, error.item], ["Fatal", false, 1])
      const end = events.find((e): e is Event.Of<"StepEnd"> => e._tag === "StepEnd" && e.path[1] === "double")!
      assert.strictEqual(end.output, 2)
      // every event survives a JSON round trip
      for (const event of events) assert.deepStrictEqual(yield* Event.decodeJson(yield* Event.encodeJson(event)), event)
    }))

  it.effect("events ends with RunEnd(failure) and then fails with the run's error", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "evf" }).map("boom", (n) => Effect.fail(new Fatal({ n })))
      const seen: Array<Event.Event> = []
      const exit = yield* Stream.runForEach(p.events([1]), (e) => Effect.sync(() => seen.push(e))).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure) && failure.value instanceof PipelineError)
      }
      const last = seen[seen.length - 1]!
      assert.strictEqual(last._tag, "RunEnd")
      assert.strictEqual(last._tag === "RunEnd" && last.status, "failure")
      assert.isTrue(seen.some((e) => e._tag === "StepError" && e.item === 0))
    }))

  it.effect("whole-stream steps emit StepStart and StepEnd without an item", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "whole" }).add("double-all", ({ input }) =>
        Stream.map(input, (n) => n * 2))
      const events = yield* collect(p.events([1, 2]))
      assert.deepStrictEqual(
        events.map((e) =>
          `${e._tag}:${e.path.join("/")}`
        ),
        [
          "RunStart:whole",
          "StepStart:whole/double-all",
          "StepEnd:whole/double-all",
          "RunEnd:whole"
        ]
      )
    }))
})
