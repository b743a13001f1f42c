import { LanguageModel } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Redacted,
  Scope,
  Stream,
  TestClock
} from "effect"
import { fileURLToPath } from "node:url"
import * as EngineRegistry from "../src/EngineRegistry.js"
import { EngineRegistryError, isEngineRegistryError } from "../src/EngineRegistryError.js"
import * as DryRun from "../src/engines/DryRun.js"
import type * as Event from "../src/Event.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/engines/${name}`, import.meta.url))

/** A custom backend whose Layer counts its acquisitions and releases, and records the API keys it got. */
const counted = () => {
  const counts = { acquired: 0, released: 0, apiKeys: [] as Array<string | undefined> }
  const backend: EngineRegistry.Backend = (spec, { apiKey }) =>
    Layer.scoped(
      LanguageModel.LanguageModel,
      Effect.acquireRelease(
        Effect.sync(() => {
          counts.acquired++
          counts.apiKeys.push(apiKey === undefined ? undefined : Redacted.value(apiKey))
        }),
        () =>
          Effect.sync(() => {
            counts.released++
          })
      ).pipe(Effect.zipRight(DryRun.make({ seed: spec.sampling?.seed ?? 0, words: 3 })))
    )
  return { counts, backends: { counted: backend } }
}

/** What a dry-run engine with these options answers to a prompt. */
const expected = (options: DryRun.Options, prompt: string) =>
  Effect.map(
    LanguageModel.generateText({ prompt }).pipe(Effect.provide(DryRun.layer(options))),
    (response) => response.text
  )

const stateOf = (name: string) =>
  Effect.map(EngineRegistry.status, (all) => all.find((status) => status.engine === name)!)

/** Runs `body` with a registry of counted engines (TTL 1 minute) built in the test's scope. */
const withCounted = <A, E>(
  engines: ReadonlyArray<EngineRegistry.SpecInput>,
  body: (counts: ReturnType<typeof counted>["counts"]) => Effect.Effect<A, E, EngineRegistry.EngineRegistry>
) =>
  Effect.suspend(() => {
    const { backends, counts } = counted()
    return body(counts).pipe(
      Effect.provide(
        EngineRegistry.layer({ engines, backends, idleTimeToLive: "1 minute" }).pipe(
          Layer.provide(FetchHttpClient.layer)
        )
      )
    )
  })

/** Holds the named engine until `release` completes; `held` completes once it is acquired. */
const holder = (name: string) =>
  Effect.gen(function*() {
    const held = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      Effect.scoped(
        Effect.zipRight(
          EngineRegistry.get(name),
          Effect.zipRight(Deferred.succeed(held, undefined), Deferred.await(release))
        )
      )
    )
    yield* Deferred.await(held)
    return { fiber, release: Effect.zipRight(Deferred.succeed(release, undefined), Fiber.join(fiber)) }
  })

const a = { name: "a", backend: "counted" } as const
const b = { name: "b", backend: "counted" } as const

describe("EngineRegistry", () => {
  describe("lifecycle", () => {
    it.effect("starts nothing until first use", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          assert.strictEqual(counts.acquired, 0)
          assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.state), ["stopped", "stopped"])
          const text = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(EngineRegistry.provide("a"))
          assert.isAbove(text.text.length, 0)
          assert.strictEqual(counts.acquired, 1)
          assert.strictEqual((yield* stateOf("a")).state, "idle")
          assert.strictEqual((yield* stateOf("b")).state, "stopped")
        })))

    it.effect("shares one instance between concurrent users, with a reference count", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const first = yield* holder("a")
          const second = yield* holder("a")
          assert.strictEqual(counts.acquired, 1)
          const busy = yield* stateOf("a")
          assert.strictEqual(busy.state, "in-use")
          assert.strictEqual(busy.refCount, 2)
          yield* first.release
          assert.strictEqual((yield* stateOf("a")).refCount, 1)
          yield* second.release
          const idle = yield* stateOf("a")
          assert.strictEqual(idle.state, "idle")
          assert.strictEqual(idle.refCount, 0)
          assert.strictEqual(counts.acquired, 1)
          assert.strictEqual(counts.released, 0)
        })))

    it.effect("shares one start between users that arrive while the engine is starting", () =>
      Effect.gen(function*() {
        let starts = 0
        const slow: EngineRegistry.Backend = () =>
          Layer.effect(
            LanguageModel.LanguageModel,
            Effect.zipRight(
              Effect.sync(() => starts++),
              Effect.zipRight(Effect.sleep("1 second"), DryRun.make())
            )
          )
        const registry = yield* EngineRegistry.make({ engines: [{ name: "s", backend: "slow" }], backends: { slow } })
        const users = yield* Effect.fork(
          Effect.all([Effect.scoped(registry.get("s")), Effect.scoped(registry.get("s"))], { concurrency: 2 })
        )
        yield* TestClock.adjust("10 millis")
        assert.strictEqual((yield* registry.status)[0]!.state, "starting")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(users)
        assert.strictEqual(starts, 1)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

    it.effect("releases an engine after its idle time-to-live, and starts it again on the next use", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          yield* Effect.scoped(EngineRegistry.get("a"))
          yield* TestClock.adjust(Duration.subtract(Duration.minutes(1), Duration.millis(1)))
          assert.strictEqual(counts.released, 0)
          assert.strictEqual((yield* stateOf("a")).state, "idle")
          yield* TestClock.adjust("1 millis")
          assert.strictEqual(counts.released, 1)
          assert.strictEqual((yield* stateOf("a")).state, "stopped")
          yield* Effect.scoped(EngineRegistry.get("a"))
          assert.strictEqual(counts.acquired, 2)
          assert.strictEqual((yield* stateOf("a")).starts, 2)
        })))

    it.effect("a use within the time-to-live restarts the idle clock", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          yield* Effect.scoped(EngineRegistry.get("a"))
          yield* TestClock.adjust("40 seconds")
          yield* Effect.scoped(EngineRegistry.get("a"))
          yield* TestClock.adjust("40 seconds")
          assert.strictEqual(counts.released, 0)
          yield* TestClock.adjust("20 seconds")
          assert.strictEqual(counts.released, 1)
          assert.strictEqual(counts.acquired, 1)
        })))

    it.effect("never releases an engine while it is in use, whatever the time", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const user = yield* holder("a")
          yield* TestClock.adjust("1 hour")
          assert.strictEqual(counts.released, 0)
          yield* user.release
          yield* TestClock.adjust("1 minute")
          assert.strictEqual(counts.released, 1)
        })))

    it.effect("an engine's own idleTimeToLive overrides the registry's", () =>
      withCounted(
        [{ ...a, idleTimeToLive: "5 seconds" }, { ...b, idleTimeToLive: "infinity" }],
        (counts) =>
          Effect.gen(function*() {
            yield* EngineRegistry.warmup()
            assert.strictEqual(counts.acquired, 2)
            yield* TestClock.adjust("5 seconds")
            assert.strictEqual((yield* stateOf("a")).state, "stopped")
            yield* TestClock.adjust("1 day")
            assert.strictEqual((yield* stateOf("b")).state, "idle")
            assert.strictEqual(counts.released, 1)
          })
      ))

    it.effect("warmup starts engines now and keeps them until idle", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          yield* EngineRegistry.warmup(["a"])
          assert.strictEqual(counts.acquired, 1)
          assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.state), ["idle", "stopped"])
          yield* Effect.scoped(EngineRegistry.get("a"))
          assert.strictEqual(counts.acquired, 1)
          yield* TestClock.adjust("1 minute")
          assert.strictEqual(counts.released, 1)
          yield* EngineRegistry.warmup()
          assert.strictEqual(counts.acquired, 3)
        })))

    it.effect("warmup of an unknown name fails before starting anything", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(EngineRegistry.warmup(["a", "nope"]))
          assert.strictEqual(error.reason, "UnknownEngine")
          assert.strictEqual(counts.acquired, 0)
        })))

    it.effect("flush releases idle engines now and leaves engines in use alone", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          yield* EngineRegistry.warmup(["a"])
          const user = yield* holder("b")
          const flushed = yield* EngineRegistry.flush()
          assert.deepStrictEqual(flushed, ["a"])
          assert.strictEqual(counts.released, 1)
          assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.state), ["stopped", "in-use"])
          yield* user.release
          assert.deepStrictEqual(yield* EngineRegistry.flush(), ["b"])
          assert.strictEqual(counts.released, 2)
          assert.deepStrictEqual(yield* EngineRegistry.flush(), [])
        })))

    it.effect("flush with force retires engines in use: users keep them, the next get starts a fresh one", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const user = yield* holder("a")
          assert.deepStrictEqual(yield* EngineRegistry.flush({ force: true }), ["a"])
          assert.strictEqual(counts.released, 0)
          const retired = yield* stateOf("a")
          assert.strictEqual(retired.state, "stopped")
          assert.strictEqual(retired.retired, 1)
          const fresh = yield* holder("a")
          assert.strictEqual(counts.acquired, 2)
          assert.strictEqual((yield* stateOf("a")).refCount, 1)
          yield* user.release
          assert.strictEqual(counts.released, 1)
          assert.strictEqual((yield* stateOf("a")).retired, 0)
          yield* fresh.release
          assert.strictEqual(counts.released, 1)
          yield* TestClock.adjust("1 minute")
          assert.strictEqual(counts.released, 2)
        })))

    it.effect("an in-flight stream survives a forced flush and ends normally", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const started = yield* Deferred.make<void>()
          const proceed = yield* Deferred.make<void>()
          const stream = Stream.make(1, 2, 3).pipe(
            Stream.tap((n) =>
              n === 2 ? Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(proceed)) : Effect.void
            ),
            EngineRegistry.provide("a")
          )
          const fiber = yield* Effect.fork(Stream.runCollect(stream))
          yield* Deferred.await(started)
          yield* EngineRegistry.flush({ force: true })
          assert.strictEqual(counts.released, 0)
          yield* Deferred.succeed(proceed, undefined)
          assert.deepStrictEqual(Chunk.toArray(yield* Fiber.join(fiber)), [1, 2, 3])
          assert.strictEqual(counts.released, 1)
        })))

    it.effect("closing the registry releases every engine", () =>
      Effect.gen(function*() {
        const { backends, counts } = counted()
        const scope = yield* Scope.make()
        const registry = yield* EngineRegistry.make({ engines: [a, b], backends }).pipe(Scope.extend(scope))
        yield* registry.warmup()
        assert.strictEqual(counts.acquired, 2)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(counts.released, 2)
      }).pipe(Effect.provide(FetchHttpClient.layer)))
  })

  describe("errors", () => {
    it.effect("an unknown name is a typed error listing the known names", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(EngineRegistry.get("gpt")))
          assert.isTrue(isEngineRegistryError(error))
          assert.strictEqual(error.reason, "UnknownEngine")
          assert.deepStrictEqual(error.known, ["a", "b"])
          assert.strictEqual(error.message, `unknown engine "gpt" (known engines: a, b)`)
          assert.isFalse(error.isRetryable)
          const viaProvide = yield* Effect.flip(Effect.succeed(1).pipe(EngineRegistry.provide("gpt")))
          assert.strictEqual(viaProvide.reason, "UnknownEngine")
          assert.strictEqual(counts.acquired, 0)
        })))

    it.effect("a missing API key variable fails when the engine starts, naming the variable", () =>
      withCounted([{ ...a, apiKeyEnv: "SLUICE_TEST_MISSING_KEY" }], (counts) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(EngineRegistry.get("a")))
          assert.strictEqual(error.reason, "MissingApiKey")
          assert.strictEqual(error.variable, "SLUICE_TEST_MISSING_KEY")
          assert.include(error.message, "SLUICE_TEST_MISSING_KEY")
          assert.strictEqual(counts.acquired, 0)
          assert.strictEqual((yield* stateOf("a")).state, "stopped")
          yield* Effect.scoped(EngineRegistry.get("a")).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_TEST_MISSING_KEY", "sk-test"]])))
          )
          assert.deepStrictEqual(counts.apiKeys, ["sk-test"])
        })))

    it.effect("a failed start is a retryable StartFailed error, and is not cached", () =>
      Effect.gen(function*() {
        let attempts = 0
        const flaky: EngineRegistry.Backend<string> = () =>
          Layer.effect(
            LanguageModel.LanguageModel,
            Effect.suspend(() => ++attempts === 1 ? Effect.fail("no GPU available") : DryRun.make())
          )
        const registry = yield* EngineRegistry.make({ engines: [{ name: "f", backend: "flaky" }], backends: { flaky } })
        const error = yield* Effect.flip(Effect.scoped(registry.get("f")))
        assert.strictEqual(error.reason, "StartFailed")
        assert.isTrue(error.isRetryable)
        assert.strictEqual(error.message, `engine "f" failed to start: no GPU available`)
        assert.strictEqual((yield* registry.status)[0]!.state, "stopped")
        yield* Effect.scoped(registry.get("f"))
        assert.strictEqual(attempts, 2)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

    it.effect("definitions given in code are validated, naming the field", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          EngineRegistry.make({
            engines: [
              { name: "fast", backend: "dry-run" },
              { name: "local", backend: "vllm" },
              { name: "x", backend: "mystery", model: "m" }
            ]
          })
        )
        assert.strictEqual(error.reason, "InvalidConfig")
        assert.strictEqual(error.field, "engines[1].model")
        assert.deepStrictEqual(error.issues?.map((issue) => issue.field), ["engines[1].model", "engines[2].backend"])
        assert.include(error.message, "engines[1].model: is missing (required by the vllm backend)")
        assert.include(error.message, `engines[2].backend: unknown backend "mystery"`)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

    it.effect("backend-specific checks: dry-run options, endpoint, unsupported sampling, default", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          EngineRegistry.make({
            engines: [
              { name: "compat", backend: "openai-compat", model: "m" },
              { name: "v", backend: "vllm", model: "m", latency: 10 },
              { name: "o", backend: "openai", model: "gpt", sampling: { seed: 1 } },
              { name: "d", backend: "dry-run", endpoint: "http://x" }
            ],
            default: "nope"
          })
        )
        assert.deepStrictEqual(error.issues?.map((issue) => `${issue.field}: ${issue.message}`), [
          "engines[0].endpoint: is missing (required by the openai-compat backend)",
          "engines[1].latency: applies to the dry-run backend only (this engine is vllm)",
          "engines[2].sampling.seed: is not supported by the openai backend (it accepts temperature, topP and maxTokens)",
          "engines[3].endpoint: does not apply to the dry-run backend",
          `default: unknown engine "nope" (known engines: compat, v, o, d)`
        ])
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

    it.effect("llama-cpp checks: the GGUF path, load options by field, no HTTP fields", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          EngineRegistry.make({
            engines: [
              { name: "a", backend: "llama-cpp" },
              { name: "b", backend: "vllm_local", model: "m.gguf", endpoint: "http://x" },
              { name: "c", backend: "llama-cpp", model: "m.gguf", options: { contextSize: -1, gpu: "tpu", extra: 1 } }
            ]
          })
        )
        assert.deepStrictEqual(error.issues?.map((issue) => issue.field), [
          "engines[0].model",
          "engines[1].endpoint",
          "engines[2].options.extra",
          "engines[2].options.contextSize",
          "engines[2].options.gpu"
        ])
        assert.include(
          error.message,
          `engines[2].options.gpu: Expected "auto" | "cuda" | "vulkan" | "metal" | false, actual "tpu"`
        )
        assert.include(error.message, "engines[0].model: is missing (required by the llama-cpp backend: the path of")
        assert.include(error.message, "engines[1].endpoint: does not apply to the vllm_local backend")
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

    it.effect("apiKeyEnv must name a variable, not hold the key", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          EngineRegistry.make({
            engines: [{ name: "o", backend: "openai", model: "m", apiKeyEnv: "sk-proj-abcdef123456" }]
          })
        )
        assert.strictEqual(error.field, "engines[0].apiKeyEnv")
        assert.include(error.message, "not the key itself")
        assert.notInclude(error.message, "abcdef123456")
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
  })

  describe("non-lazy engines", () => {
    it.effect("start when the registry is built", () =>
      withCounted([a, { ...b, lazy: false }], (counts) =>
        Effect.gen(function*() {
          assert.strictEqual(counts.acquired, 1)
          const [first, second] = yield* EngineRegistry.status
          assert.strictEqual(first!.state, "stopped")
          assert.strictEqual(second!.state, "idle")
          assert.isFalse(second!.lazy)
        })))

    it.effect("fail the registry's Layer when they cannot start", () =>
      Effect.gen(function*() {
        const { backends } = counted()
        const error = yield* Effect.flip(
          Effect.provide(
            EngineRegistry.status,
            EngineRegistry.layer({
              engines: [{ name: "a", backend: "counted", lazy: false, apiKeyEnv: "SLUICE_TEST_MISSING_KEY" }],
              backends
            }).pipe(Layer.provide(FetchHttpClient.layer))
          )
        )
        assert.strictEqual(error.reason, "MissingApiKey")
        assert.strictEqual(error.variable, "SLUICE_TEST_MISSING_KEY")
      }))
  })

  describe("using engines by name", () => {
    it.effect("provide holds the engine for the whole stream and releases it after", () =>
      withCounted([a], (counts) =>
        Effect.gen(function*() {
          const refCounts: Array<number> = []
          const stream = LanguageModel.streamText({ prompt: "tell me a story" }).pipe(
            Stream.tap(() => Effect.flatMap(stateOf("a"), (s) => Effect.sync(() => refCounts.push(s.refCount)))),
            EngineRegistry.provide("a")
          )
          const parts = yield* Stream.runCollect(stream)
          assert.isAbove(parts.length, 3)
          assert.isTrue(refCounts.every((n) => n === 1))
          assert.strictEqual(refCounts.length, parts.length)
          assert.strictEqual((yield* stateOf("a")).refCount, 0)
          assert.strictEqual(counts.acquired, 1)
        })))

    it.effect("provide on an Effect holds the engine while it runs", () =>
      withCounted([a], () =>
        Effect.gen(function*() {
          const during = yield* Effect.zipRight(LanguageModel.LanguageModel, stateOf("a")).pipe(
            EngineRegistry.provide("a")
          )
          assert.strictEqual(during.state, "in-use")
          assert.strictEqual((yield* stateOf("a")).state, "idle")
        })))

    it.effect("withEngine runs a Node on the named engine", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          const seen: Array<number> = []
          const node = Llm.text({ name: "answer", prompt: (q: string) => q }).pipe(
            Node.observe(() => Effect.zipRight(LanguageModel.LanguageModel, Effect.sync(() => seen.push(1)))),
            EngineRegistry.withEngine("b")
          )
          const events = Chunk.toArray(yield* Stream.runCollect(Node.stream(node, "why?")))
          const end = events.at(-1) as Event.Of<"StepEnd">
          assert.strictEqual(end._tag, "StepEnd")
          assert.isAbove(String(end.output).length, 0)
          assert.deepStrictEqual(end.path, ["answer"])
          assert.strictEqual(seen.length, events.length)
          assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.starts), [0, 1])
          assert.strictEqual(counts.acquired, 1)
        })))

    it.effect("withEngine with an unknown name fails the node with the typed error", () =>
      withCounted([a], () =>
        Effect.gen(function*() {
          const node = EngineRegistry.withEngine(Llm.text({ prompt: (q: string) => q }), "nope")
          const error = yield* Effect.flip(Node.run(node, "x"))
          assert.isTrue(isEngineRegistryError(error))
          assert.strictEqual((error as EngineRegistryError).reason, "UnknownEngine")
        })))

    it.effect("layerEngine and layerDefault provide a LanguageModel from the registry", () =>
      withCounted([a, b], (counts) =>
        Effect.gen(function*() {
          const text = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
            Effect.provide(EngineRegistry.layerDefault)
          )
          assert.isAbove(text.text.length, 0)
          assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.starts), [1, 0])
          yield* LanguageModel.generateText({ prompt: "hi" }).pipe(Effect.provide(EngineRegistry.layerEngine("b")))
          assert.strictEqual(counts.acquired, 2)
        })))
  })

  describe("files", () => {
    const files = Layer.mergeAll(FetchHttpClient.layer, NodeFileSystem.layer)

    it.effect("a YAML file defines engines; dry-run engines answer; non-lazy ones start", () =>
      Effect.gen(function*() {
        const registry = yield* EngineRegistry.EngineRegistry
        assert.deepStrictEqual(registry.engines, ["fast", "slow", "local", "cloud"])
        assert.strictEqual(registry.defaultEngine, "fast")
        const slow = registry.specs[1]!
        assert.isTrue(Duration.equals(slow.latency!, Duration.millis(50)))
        assert.deepStrictEqual(
          (yield* EngineRegistry.status).map((s) => s.state),
          ["stopped", "idle", "stopped", "stopped"]
        )
        const answer = yield* LanguageModel.generateText({ prompt: "hello" }).pipe(EngineRegistry.provide("fast"))
        assert.strictEqual(answer.text, yield* expected({ seed: 7, words: 6 }, "hello"))
        const again = yield* LanguageModel.generateText({ prompt: "hello" }).pipe(EngineRegistry.provide("fast"))
        assert.strictEqual(again.text, answer.text)
        const fiber = yield* Effect.fork(
          LanguageModel.generateText({ prompt: "hello" }).pipe(EngineRegistry.provide("slow"))
        )
        yield* TestClock.adjust("50 millis")
        assert.isAbove((yield* Fiber.join(fiber)).text.length, 0)
        const missing = yield* Effect.flip(Effect.scoped(EngineRegistry.get("cloud")))
        assert.strictEqual(missing.reason, "MissingApiKey")
        assert.strictEqual(missing.variable, "SLUICE_TEST_OPENAI_KEY")
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual((yield* EngineRegistry.status).map((s) => s.state), [
          "stopped",
          "stopped",
          "stopped",
          "stopped"
        ])
      }).pipe(Effect.provide(EngineRegistry.layerFile(fixture("valid.yml")).pipe(Layer.provide(files)))))

    it.effect("HTTP engines from a file start without touching the network", () =>
      Effect.gen(function*() {
        yield* EngineRegistry.warmup(["local", "cloud"]).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SLUICE_TEST_OPENAI_KEY", "sk-test"]])))
        )
        const states = (yield* EngineRegistry.status).map((s) => `${s.engine}:${s.state}`)
        assert.deepStrictEqual(states, ["fast:stopped", "slow:idle", "local:idle", "cloud:idle"])
      }).pipe(Effect.provide(EngineRegistry.layerFile(fixture("valid.yml")).pipe(Layer.provide(files)))))

    it.effect("a JSON file defines engines", () =>
      Effect.gen(function*() {
        const definition = yield* EngineRegistry.readFile(fixture("valid.json"))
        assert.deepStrictEqual(definition.engines.map((spec) => spec.backend), ["dry-run", "dry-run", "ollama"])
        assert.strictEqual(definition.default, "slow")
        assert.isTrue(Duration.equals(definition.engines[1]!.idleTimeToLive!, Duration.infinity))
        assert.deepStrictEqual(definition.engines[2]!.options, { num_ctx: 8192 })
        const registry = yield* EngineRegistry.fromDefinition(definition)
        const text = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
          Effect.provideServiceEffect(LanguageModel.LanguageModel, registry.get("fast"))
        )
        assert.strictEqual(text.text, yield* expected({ seed: 7, words: 6 }, "hi"))
      }).pipe(Effect.scoped, Effect.provide(files)))

    it.effect("a file can use custom backends", () =>
      Effect.gen(function*() {
        const { backends, counts } = counted()
        const definition = yield* EngineRegistry.parse("engines:\n  - name: mine\n    backend: counted\n", {
          backends: Object.keys(backends)
        })
        const registry = yield* EngineRegistry.fromDefinition(definition, { backends })
        yield* registry.warmup()
        assert.strictEqual(counts.acquired, 1)
      }).pipe(Effect.scoped, Effect.provide(files)))

    it.effect("the example engines.yml is valid and its default engine answers", () =>
      Effect.gen(function*() {
        const registry = yield* EngineRegistry.EngineRegistry
        assert.isDefined(registry.defaultEngine)
        const text = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
          Effect.provide(EngineRegistry.layerDefault)
        )
        assert.isAbove(text.text.length, 0)
      }).pipe(
        Effect.provide(
          EngineRegistry.layerFile(fileURLToPath(new URL("../examples/engines.yml", import.meta.url))).pipe(
            Layer.provide(files)
          )
        )
      ))

    const bad: ReadonlyArray<readonly [file: string, reason: string, where: string, field: string, text: string]> = [
      ["syntax-error.yml", "InvalidConfig", "syntax-error.yml:6:5", "", "YAML syntax error"],
      [
        "syntax-error.json",
        "InvalidConfig",
        "syntax-error.json:3:45",
        "",
        `JSON syntax error: trailing comma before "]"`
      ],
      [
        "unknown-backend.yml",
        "InvalidConfig",
        "unknown-backend.yml:5:5",
        "engines[1].backend",
        `unknown backend "vlm"`
      ],
      ["missing-model.yml", "InvalidConfig", "missing-model.yml:5:5", "engines[1].model", "is missing"],
      ["wrong-type.yml", "InvalidConfig", "wrong-type.yml:4:5", "engines[0].lazy", `Expected boolean, actual "no"`],
      ["wrong-type.json", "InvalidConfig", "wrong-type.json:7:7", "engines[1].model", "Expected string, actual 42"],
      [
        "unexpected-field.yml",
        "InvalidConfig",
        "unexpected-field.yml:6:7",
        "engines[0].sampling.max_tokens",
        "is unexpected"
      ],
      [
        "duplicate-name.yml",
        "InvalidConfig",
        "duplicate-name.yml:8:5",
        "engines[2].name",
        `duplicate engine name "fast"`
      ],
      ["empty.yml", "InvalidConfig", "empty.yml:1", "", "the definition is empty"],
      ["does-not-exist.yml", "ReadFailed", "does-not-exist.yml", "", "cannot read"]
    ]
    for (const [file, reason, where, field, text] of bad) {
      it.effect(`${file} fails with ${reason} naming ${where} ${field}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(
            Effect.provide(
              EngineRegistry.status,
              EngineRegistry.layerFile(fixture(file)).pipe(Layer.provide(files))
            )
          )
          assert.strictEqual(error.reason, reason)
          assert.include(error.message, `${where}: ${field === "" ? "" : `${field}: `}`)
          assert.include(error.message, text)
          if (field !== "") assert.strictEqual(error.field, field)
        }))
    }

    it.effect("every problem of a file is listed with its line", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(EngineRegistry.readFile(fixture("wrong-type.yml")))
        assert.deepStrictEqual(error.issues?.map((issue) => [issue.line, issue.field]), [
          [4, "engines[0].lazy"],
          [5, "engines[0].latency"],
          [7, "engines[0].sampling.temperature"]
        ])
        assert.include(error.message, "(3 problems)")
        assert.include(
          error.message,
          `wrong-type.yml:7:7: engines[0].sampling.temperature: Expected number, actual "hot"`
        )
      }).pipe(Effect.provide(NodeFileSystem.layer)))

    it.effect("parse reads JSON given as text, and reports JSON syntax errors at their line", () =>
      Effect.gen(function*() {
        const definition = yield* EngineRegistry.parse(`{"engines": [{"name": "x", "backend": "dry-run"}]}`, {
          format: "json"
        })
        assert.strictEqual(definition.engines[0]!.name, "x")
        const error = yield* Effect.flip(
          EngineRegistry.parse(`{\n  "engines": [\n    {"name": 'x'}\n  ]\n}`, { format: "json", file: "e.json" })
        )
        assert.include(error.message, `e.json:3:14: JSON syntax error: expected a value but found "'"`)
        const unquoted = yield* Effect.flip(EngineRegistry.parse(`{ engines: [] }`, { format: "json" }))
        assert.include(unquoted.message, "line 1:3: JSON syntax error: expected a key in double quotes")
        const truncated = yield* Effect.flip(EngineRegistry.parse(`{\n  "engines": [\n`, { format: "json" }))
        assert.include(
          truncated.message,
          "line 3:1: JSON syntax error: the text ends before the JSON value is complete"
        )
      }))

    it.effect("errors are data", () =>
      Effect.sync(() => {
        const error = new EngineRegistryError({
          reason: "InvalidConfig",
          file: "engines.yml",
          line: 3,
          column: 5,
          field: "engines[0].model",
          description: "is missing"
        })
        assert.strictEqual(error.message, "engines.yml:3:5: engines[0].model: is missing")
        assert.strictEqual(error._tag, "EngineRegistryError")
      }))
  })
})
