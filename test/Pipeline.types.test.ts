/**
 * Type-level tests of the Pipeline builder: checked by `tsc` (`npm run check`); the `expectTypeOf` calls are no-ops
 * at run time. Each `@ts-expect-error` line must fail to compile, or `tsc` reports the directive as unused.
 */
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Context, Data, Effect, type Either, Option, type Scope, Stream } from "effect"
import type * as Event from "../src/Event.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"
import type { PipelineError } from "../src/PipelineError.js"

class NotFound extends Data.TaggedError("NotFound")<{ readonly path: string }> {}
class RateLimited extends Data.TaggedError("RateLimited")<{}> {}
class Store extends Context.Tag("types/Store")<Store, { readonly get: (k: string) => Effect.Effect<string> }>() {}
class Settings extends Context.Tag("types/Settings")<Settings, { readonly lang: string }>() {}

interface Doc {
  readonly path: string
}

const read = (doc: Doc) => doc.path === "" ? Effect.fail(new NotFound({ path: doc.path })) : Effect.succeed("text")
const embed = (_: ReadonlyArray<string>) =>
  Effect.flatMap(Store, (store) => store.get("k")).pipe(
    Effect.zipRight(Effect.fail(new RateLimited())),
    Effect.as([[0.1, 0.2]] as ReadonlyArray<ReadonlyArray<number>>)
  )

const outputOf = <P extends Pipeline.Pipeline.Any>(_: P) => expectTypeOf<Pipeline.Pipeline.Output<P>>()
const errorOf = <P extends Pipeline.Pipeline.Any>(_: P) => expectTypeOf<Pipeline.Pipeline.Error<P>>()
const contextOf = <P extends Pipeline.Pipeline.Any>(_: P) => expectTypeOf<Pipeline.Pipeline.Context<P>>()

describe("Pipeline types", () => {
  it("infers outputs, errors and requirements step by step", () => {
    const start = Pipeline.start<Doc>()
    expectTypeOf(start).toEqualTypeOf<Pipeline.Pipeline<Doc, Doc, never, never, never, {}, void>>()

    const p = start
      .map("read", read, { concurrency: 10, errorStrategy: "SKIP_FAILED" })
      .flatMap("chunks", (text) => text.split("\n"))
      .filter("long", (chunk) => chunk.length > 20)
      .batch("batches", 50)
      .map("embed", embed, { retry: { maxAttempts: 3, retryable: ["RateLimited"] } })
      .unbatch("vectors")

    outputOf(p).toEqualTypeOf<ReadonlyArray<number>>()
    errorOf(p).toEqualTypeOf<NotFound | RateLimited>()
    contextOf(p).toEqualTypeOf<Store>()
    expectTypeOf<Pipeline.Pipeline.Ids<typeof p>>().toEqualTypeOf<
      "read" | "chunks" | "long" | "batches" | "embed" | "vectors"
    >()

    expectTypeOf(p.execute([{ path: "a" }])).toEqualTypeOf<
      Stream.Stream<ReadonlyArray<number>, PipelineError<NotFound | RateLimited>, Store>
    >()
    expectTypeOf(p.executeToArray([{ path: "a" }])).toEqualTypeOf<
      Effect.Effect<Array<ReadonlyArray<number>>, PipelineError<NotFound | RateLimited>, Store>
    >()
    expectTypeOf(p.executeReduce([{ path: "a" }], (n, v) => n + v.length, 0)).toEqualTypeOf<
      Effect.Effect<number, PipelineError<NotFound | RateLimited>, Store>
    >()
    expectTypeOf(p.executeEither([{ path: "a" }])).toEqualTypeOf<
      Stream.Stream<
        Either.Either<ReadonlyArray<number>, PipelineError<NotFound | RateLimited>>,
        PipelineError<NotFound | RateLimited>,
        Store
      >
    >()
    expectTypeOf(p.executeSplit([{ path: "a" }])).toEqualTypeOf<
      Effect.Effect<
        readonly [
          outputs: Stream.Stream<ReadonlyArray<number>, PipelineError<NotFound | RateLimited>>,
          errors: Stream.Stream<PipelineError<NotFound | RateLimited>, PipelineError<NotFound | RateLimited>>
        ],
        never,
        Scope.Scope | Store
      >
    >()
  })

  it("input streams add their errors and requirements", () => {
    const p = Pipeline.start<string>().map("len", (s) => Effect.succeed(s.length))
    const inputs = Stream.fromEffect(Effect.flatMap(Settings, (s) => Effect.succeed(s.lang))).pipe(
      Stream.concat(Stream.fail("bad input" as const))
    )
    expectTypeOf(p.execute(inputs)).toEqualTypeOf<Stream.Stream<number, PipelineError<"bad input">, Settings>>()
    expectTypeOf(p.events(["a"])).toEqualTypeOf<
      Stream.Stream<Event.Event, PipelineError<never>, never>
    >()
  })

  it("rejects duplicate ids at compile time", () => {
    const p = Pipeline.start<number>().map("a", (n) => Effect.succeed(n + 1))
    // @ts-expect-error: "a" is already a step id
    p.map("a", (n) => Effect.succeed(n))
    // @ts-expect-error: duplicate ids are rejected by every builder method
    p.take("a", 1)
    // @ts-expect-error: also through a checkpoint
    p.checkpoint("s").batch("s", 2)
    expectTypeOf(p.take("b", 1)).toEqualTypeOf<Pipeline.Pipeline<number, number, never, never, "a" | "b", {}, void>>()
  })

  it("types the checkpointed state", () => {
    Pipeline.start<string>()
      .checkpoint("raw")
      .map("len", (s, { state }) => {
        expectTypeOf(state.accumulated.raw).toEqualTypeOf<ReadonlyArray<string>>()
        // @ts-expect-error: "len" is not checkpointed
        const _len = state.accumulated.len
        return Effect.succeed(s.length)
      })
      .checkpoint("lengths")
      .add("report", ({ input, state }) => {
        expectTypeOf(input).toEqualTypeOf<Stream.Stream<number, PipelineError<never>>>()
        expectTypeOf(state.accumulated.lengths).toEqualTypeOf<ReadonlyArray<number>>()
        expectTypeOf(state.stream("raw")).toEqualTypeOf<Stream.Stream<string, PipelineError>>()
        expectTypeOf(state.materialize("lengths")).toEqualTypeOf<
          Effect.Effect<ReadonlyArray<number>, PipelineError>
        >()
        // @ts-expect-error: only checkpointed ids can be streamed
        state.stream("report")
        return input
      })
  })

  it("filter refinements narrow, effectful predicates add their errors", () => {
    const p = Pipeline.start<string | number>()
      .filter("numbers", (x): x is number => typeof x === "number")
    outputOf(p).toEqualTypeOf<number>()
    const q = p.filter("valid", (n) => n > 0 ? Effect.succeed(true) : Effect.fail(new NotFound({ path: "" })))
    errorOf(q).toEqualTypeOf<NotFound>()
  })

  it("flatMap takes streams and iterables; structural steps shape the output", () => {
    const streams = Pipeline.start<number>().flatMap("range", (n) => Stream.range(1, n))
    outputOf(streams).toEqualTypeOf<number>()
    const arrays = Pipeline.start<number>().flatMap("pair", (n) => [String(n), String(n)])
    outputOf(arrays).toEqualTypeOf<string>()

    const p = Pipeline.start<number>()
    expectTypeOf<Pipeline.Pipeline.Output<ReturnType<typeof p.batch<"b">>>>().toEqualTypeOf<
      ReadonlyArray<number>
    >()
    const groups = p.groupBy("g", (n) => n % 2 === 0 ? "even" as const : "odd" as const)
    outputOf(groups).toEqualTypeOf<Pipeline.Group<"even" | "odd", number>>()
    const merged = p.merge("m", Stream.make("x"))
    outputOf(merged).toEqualTypeOf<number | string>()
    const windows = p.window("w", 3)
    outputOf(windows).toEqualTypeOf<ReadonlyArray<number>>()

    const users = [{ id: 1, name: "ada" }]
    const inner = p.join("u", users, { left: (n) => n, right: (u) => u.id })
    outputOf(inner).toEqualTypeOf<
      readonly [number, { id: number; name: string }]
    >()
    const left = p.join("u", users, { left: (n) => n, right: (u) => u.id, mode: "left" })
    outputOf(left).toEqualTypeOf<
      readonly [number, { id: number; name: string } | undefined]
    >()
  })

  it("map accepts a Node; the context comes from execute or withContext", () => {
    const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
    const p = Pipeline.start<string>().map("upper", upper)
    outputOf(p).toEqualTypeOf<string>()

    Pipeline.start<string, { readonly prefix: string }>().map("tag", (s, { context }) => {
      expectTypeOf(context).toEqualTypeOf<{ readonly prefix: string }>()
      return Effect.succeed(context.prefix + s)
    })
    const withSettings = Pipeline.start<string>().withContext(Settings).map("lang", (s, { context, index }) => {
      expectTypeOf(context).toEqualTypeOf<{ readonly lang: string }>()
      expectTypeOf(index).toEqualTypeOf<number>()
      return Effect.succeed(`${context.lang}:${s}`)
    })
    contextOf(withSettings).toEqualTypeOf<Settings>()
  })

  it("batch mode and the adapters keep the types", () => {
    const batch = Pipeline.startBatch<number>()
      .step("sort", (xs) => Effect.succeed([...xs].sort()))
      .map("str", (n) => Effect.succeed(String(n)))
    expectTypeOf(batch.run([1])).toEqualTypeOf<Effect.Effect<Array<string>, PipelineError<never>, never>>()
    const streaming = Pipeline.toStreaming(batch)
    expectTypeOf<Pipeline.Pipeline.Output<typeof streaming>>().toEqualTypeOf<string>()
    // @ts-expect-error: the batch pipeline's ids carry over
    streaming.take("sort", 1)
    const back = Pipeline.toBatch(Pipeline.start<number>().map("half", (n) => Effect.succeed(n / 2)))
    expectTypeOf(back.run([2])).toEqualTypeOf<Effect.Effect<Array<number>, PipelineError<never>, never>>()
  })
})

describe("Node.finalResult typing (issue 13)", () => {
  it.effect("is typed by the node whose stream it reads", () =>
    Effect.gen(function*() {
      const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
      const result = yield* Node.finalResult(Node.stream(upper, "hi"), upper)
      expectTypeOf(result).toEqualTypeOf<Option.Option<string>>()
      assert.deepStrictEqual(result, Option.some("HI"))
    }))
})
