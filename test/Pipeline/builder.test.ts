import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Stream } from "effect"
import * as Node from "../../src/Node.js"
import * as Pipeline from "../../src/Pipeline.js"
import { collect, Fatal, withTime } from "./helpers.js"

describe("Pipeline builder", () => {
  it.effect("map, filter, take and skip compose in order", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "basic" })
        .map("double", (n) => Effect.succeed(n * 2))
        .filter("no-six", (n) => n !== 6)
        .skip("skip1", 1)
        .take("first3", 3)
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5, 6]), [4, 8, 10])
      assert.deepStrictEqual(p.steps.map((s) => `${s.kind}:${s.id}`), [
        "map:double",
        "filter:no-six",
        "skip:skip1",
        "take:first3"
      ])
    }))

  it.effect("runs over Streams, Iterables and AsyncIterables", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("inc", (n) => Effect.succeed(n + 1))
      async function* gen() {
        yield 1
        yield 2
      }
      assert.deepStrictEqual(yield* p.executeToArray(Stream.make(1, 2)), [2, 3])
      assert.deepStrictEqual(yield* p.executeToArray(new Set([5, 6])), [6, 7])
      assert.deepStrictEqual(yield* p.executeToArray(gen()), [2, 3])
    }))

  it.effect("a failing input source fails the run with InputFailed", () =>
    Effect.gen(function*() {
      async function* broken() {
        yield 1
        throw new Error("disk gone")
      }
      const error = yield* Effect.flip(Pipeline.start<number>({ name: "in" }).executeToArray(broken()))
      assert.strictEqual(error.reason, "InputFailed")
      assert.strictEqual(error.step, "input")
      assert.include(error.message, "disk gone")
      const fromStream = yield* Effect.flip(Pipeline.start<number>().executeToArray(Stream.fail("nope")))
      assert.strictEqual(fromStream.cause, "nope")
    }))

  it.effect("add runs a whole-stream step and wraps its failures with the step name", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string>({ name: "add" })
        .add("discover", ({ input, step }) => Stream.flatMap(input, (dir) => Stream.make(`${dir}/a`, `${dir}/b`, step)))
      assert.deepStrictEqual(yield* p.executeToArray(["x"]), ["x/a", "x/b", "discover"])
      const failing = Pipeline.start<string>({ name: "add" }).add("boom", () => Stream.fail(new Fatal({ n: 1 })))
      const error = yield* Effect.flip(failing.executeToArray(["x"]))
      assert.strictEqual(error.reason, "StepFailed")
      assert.strictEqual(error.step, "boom")
      assert.deepStrictEqual(error.cause, new Fatal({ n: 1 }))
      // an upstream PipelineError passes through an add step unwrapped
      const upstream = yield* Effect.flip(
        Pipeline.start<number>()
          .map("fail", (n) => Effect.fail(new Fatal({ n })))
          .add("pass", ({ input }) => input)
          .executeToArray([1])
      )
      assert.strictEqual(upstream.step, "fail")
    }))

  it.effect("flatMap streams lazily with concurrency 1 (an endless stream works with take)", () =>
    Effect.gen(function*() {
      let pages = 0
      const p = Pipeline.start<string>()
        .flatMap("pages", (query) =>
          Stream.iterate(1, (n) => n + 1).pipe(
            Stream.tap(() => Effect.sync(() => pages++)),
            Stream.map((page) => `${query}#${page}`)
          ))
        .take("first", 3)
      assert.deepStrictEqual(yield* p.executeToArray(["q"]), ["q#1", "q#2", "q#3"])
      assert.isAtMost(pages, 3 + 4096)
      const arrays = Pipeline.start<number>().flatMap("range", (n) => Array.from({ length: n }, (_, i) => i))
      assert.deepStrictEqual(yield* arrays.executeToArray([1, 3]), [0, 0, 1, 2])
    }))

  it.effect("flatMap with concurrency collects each item's output and keeps the order", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().flatMap(
        "spread",
        (n) => Stream.fromEffect(Effect.as(Effect.sleep(50 - n * 10), [n, n])).pipe(Stream.flattenIterables),
        { concurrency: 4 }
      )
      assert.deepStrictEqual(yield* withTime(p.executeToArray([1, 2, 3]), 100), [1, 1, 2, 2, 3, 3])
    }))

  it.effect("filter takes booleans, effects of booleans and refinements", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number | string>()
        .filter("numbers", (x): x is number => typeof x === "number")
        .filter("even", (n) => Effect.succeed(n % 2 === 0), { concurrency: 2 })
        .map("half", (n) => Effect.succeed(n / 2))
      assert.deepStrictEqual(yield* p.executeToArray([1, "a", 2, 4, "b", 5]), [1, 2])
    }))

  it.effect("batch groups by size, or by size and time; unbatch flattens", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().batch("pairs", 2)
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5]), [[1, 2], [3, 4], [5]])
      assert.deepStrictEqual(yield* p.unbatch("flat").executeToArray([1, 2, 3]), [1, 2, 3])
      const timed = Pipeline.start<number>().batch("timed", 10, { within: "100 millis" })
      const source = Stream.make(1, 2).pipe(Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep(300), 3))))
      assert.deepStrictEqual(yield* withTime(timed.executeToArray(source), 1_000), [[1, 2], [3]])
    }))

  it.effect("checkpoint materialises a snapshot that later steps read from state", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>()
        .map("square", (n) => Effect.succeed(n * n))
        .checkpoint("squares")
        .map("share", (n, { state }) => {
          const total = state.accumulated.squares.reduce((a, b) => a + b, 0)
          return Effect.succeed(`${n}/${total}`)
        })
        .add("with-stream", ({ input, state }) =>
          Stream.concat(input, Stream.map(state.stream("squares"), (n) => `again ${n}`)))
        .map("count", (s, { state }) =>
          Effect.map(state.materialize("squares"), (all) => `${s} (${all.length})`))
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3]), [
        "1/14 (3)",
        "4/14 (3)",
        "9/14 (3)",
        "again 1 (3)",
        "again 4 (3)",
        "again 9 (3)"
      ])
    }))

  it.effect("window emits sliding or tumbling windows", () =>
    Effect.gen(function*() {
      const sliding = Pipeline.start<number>().window("w", 3, { slide: 1 })
      assert.deepStrictEqual(yield* sliding.executeToArray([1, 2, 3, 4]), [[1, 2, 3], [2, 3, 4]])
      const tumbling = Pipeline.start<number>().window("w", 2)
      assert.deepStrictEqual(yield* tumbling.executeToArray([1, 2, 3, 4]), [[1, 2], [3, 4]])
    }))

  it.effect("groupBy emits full groups as they fill and the rest at the end", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string>().groupBy("by-length", (s) => s.length, { size: 2 })
      const groups = yield* p.executeToArray(["a", "bb", "c", "dd", "e", "fff"])
      assert.deepStrictEqual(groups, [
        { key: 1, items: ["a", "c"] },
        { key: 2, items: ["bb", "dd"] },
        { key: 1, items: ["e"] },
        { key: 3, items: ["fff"] }
      ])
      const unbounded = Pipeline.start<number>().groupBy("parity", (n) => n % 2)
      assert.deepStrictEqual(yield* unbounded.executeToArray([1, 2, 3]), [{ key: 1, items: [1, 3] }, {
        key: 0,
        items: [2]
      }])
    }))

  it.effect("merge interleaves another source", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().merge("extra", ["x", "y"])
      const out = yield* p.executeToArray([1, 2])
      assert.sameMembers(out, [1, 2, "x", "y"])
      const fromContext = Pipeline.start<number>().merge("dyn", ({ step }) => Stream.make(step))
      assert.sameMembers(yield* fromContext.executeToArray([1]), [1, "dyn"])
    }))

  it.effect("join matches items with another source by key (inner and left)", () =>
    Effect.gen(function*() {
      const users = [{ id: 1, name: "ada" }, { id: 2, name: "bob" }, { id: 1, name: "ada2" }]
      const orders = [{ user: 1, total: 10 }, { user: 3, total: 5 }]
      const inner = Pipeline.start<{ user: number; total: number }>().join("users", users, {
        left: (o) => o.user,
        right: (u) => u.id
      })
      assert.deepStrictEqual(yield* inner.executeToArray(orders), [
        [{ user: 1, total: 10 }, { id: 1, name: "ada" }],
        [{ user: 1, total: 10 }, { id: 1, name: "ada2" }]
      ])
      const left = Pipeline.start<{ user: number; total: number }>().join("users", users, {
        left: (o) => o.user,
        right: (u) => u.id,
        mode: "left"
      })
      const rows = yield* left.executeToArray(orders)
      assert.deepStrictEqual(rows.map(([o, u]) => `${o.total}:${u?.name ?? "-"}`), ["10:ada", "10:ada2", "5:-"])
    }))

  it.effect("addBatch runs an array step over batches or over the whole stream", () =>
    Effect.gen(function*() {
      const sums = Pipeline.start<number>().addBatch("sums", (xs) => Effect.succeed([xs.reduce((a, b) => a + b, 0)]), {
        size: 2
      })
      assert.deepStrictEqual(yield* sums.executeToArray([1, 2, 3, 4, 5]), [3, 7, 5])
      const sorted = Pipeline.start<number>().addBatch("sort", (xs) => Effect.succeed([...xs].sort((a, b) => a - b)))
      assert.deepStrictEqual(yield* sorted.executeToArray([3, 1, 2]), [1, 2, 3])
    }))

  it.effect("executeReduce folds the outputs, also over large chunks", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("inc", (n) => Effect.succeed(n + 1))
      const total = yield* p.executeReduce(Array.from({ length: 20_000 }, (_, i) => i), (a, n) => a + n, 0)
      assert.strictEqual(total, (20_000 * 20_001) / 2)
    }))

  it.effect("steps receive the context value from execute or from withContext", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string, { readonly prefix: string }>()
        .map("tag", (s, { context, index, runId, step }) =>
          Effect.succeed(`${context.prefix}${s}${index}:${step}:${runId}`))
      assert.deepStrictEqual(yield* p.executeToArray(["a"], { context: { prefix: ">" }, runId: "r1" }), [">a0:tag:r1"])

      class Prefix extends Context.Tag("test/Prefix")<Prefix, string>() {}
      const tagged = Pipeline.start<string>().withContext(Prefix).map("tag", (s, { context }) =>
        Effect.succeed(context + s))
      const out = yield* tagged.executeToArray(["a", "b"]).pipe(Effect.provideService(Prefix, "#"))
      assert.deepStrictEqual(out, ["#a", "#b"])
    }))

  it.effect("map runs a Node and returns its output", () =>
    Effect.gen(function*() {
      const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
      const p = Pipeline.start<string>({ name: "nodes" }).map("shout", upper, { concurrency: 2 })
      assert.deepStrictEqual(yield* p.executeToArray(["a", "b"]), ["A", "B"])
      const events = yield* collect(p.events(["a"], { runId: "r" }))
      const paths = events.map((e) => `${e._tag}:${e.path.join("/")}`)
      assert.deepStrictEqual(paths, [
        "RunStart:nodes",
        "StepStart:nodes/shout",
        "StepStart:nodes/shout/0/upper",
        "StepEnd:nodes/shout/0/upper",
        "StepEnd:nodes/shout",
        "RunEnd:nodes"
      ])
    }))
})
