/**
 * The registry's service: engines in an `RcMap`, started on first use, shared and reference counted, released after
 * their idle time-to-live; `flush` stops the idle ones and can retire those in use.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import type { Backend, Definition, EngineStatus, Service, Spec } from "../../EngineRegistry.js"
import { EngineRegistryError } from "../../EngineRegistryError.js"
import { describe } from "../describe.js"
import { builtins, resolveApiKey } from "./backends.js"

/** An instance of an engine: `starting` until its Layer is built, then `ready`; `refCount` users hold it. */
interface Instance {
  readonly key: Key
  state: "starting" | "ready"
  refCount: number
}

interface Entry {
  readonly instance: Instance
  readonly service: LanguageModel.Service
}

/**
 * The `RcMap` key of an engine instance. The generation changes whenever an instance is invalidated: `RcMap` (3.22)
 * keys its release logic by key, so re-using a key while an invalidated instance is still held would let that
 * instance's release evict its successor.
 */
interface Key {
  readonly engine: string
  readonly generation: number
}

/** Builds the service of a decoded, checked definition; engines with `lazy: false` start now. */
export const make = <R>(
  definition: Definition,
  custom: Readonly<Record<string, Backend<unknown, R>>>,
  fallbackTtl: Duration.DurationInput | undefined
): Effect.Effect<Service, EngineRegistryError, Scope.Scope | HttpClient.HttpClient | R> =>
  Effect.gen(function*() {
    const engines = new Engines(definition, { ...builtins, ...custom })
    const ttl = definition.idleTimeToLive ?? Duration.decode(fallbackTtl ?? "5 minutes")
    engines.map = yield* RcMap.make({
      lookup: (key: Key) => engines.start(key),
      idleTimeToLive: (key: Key) => engines.specs.get(key.engine)?.idleTimeToLive ?? ttl
    })
    const service: Service = {
      engines: engines.names,
      specs: definition.engines,
      defaultEngine: definition.default ?? engines.names[0],
      get: (engine) => engines.get(engine),
      warmup: (selected) => engines.warmup(selected),
      flush: (options) => engines.flush(options),
      status: Effect.sync(() => engines.status())
    }
    const eager = definition.engines.filter((spec) => spec.lazy === false).map((spec) => spec.name)
    if (eager.length > 0) yield* service.warmup(eager)
    return service
  })

class Engines<R> {
  readonly names: ReadonlyArray<string>
  readonly specs: ReadonlyMap<string, Spec>
  /** The current key of each engine. */
  private readonly keys: Map<string, Key>
  /** The instance of each engine that is starting or running, until it stops or is retired. */
  private readonly current = new Map<string, Instance>()
  /** Instances retired by `flush({ force: true })` that users still hold. */
  private readonly retired = new Set<Instance>()
  private readonly starts = new Map<string, number>()
  map!: RcMap.RcMap<Key, Entry, EngineRegistryError>

  constructor(
    readonly definition: Definition,
    private readonly backends: Readonly<Record<string, Backend<unknown, R | HttpClient.HttpClient>>>
  ) {
    this.names = definition.engines.map((spec) => spec.name)
    this.specs = new Map(definition.engines.map((spec) => [spec.name, spec]))
    this.keys = new Map(this.names.map((engine) => [engine, Data.struct({ engine, generation: 0 })]))
  }

  /** The `RcMap` lookup: builds the engine's Layer in the entry's scope. */
  start(key: Key): Effect.Effect<Entry, EngineRegistryError, Scope.Scope | R | HttpClient.HttpClient> {
    const spec = this.specs.get(key.engine)!
    const instance: Instance = { key, state: "starting", refCount: 0 }
    const forget = Effect.sync(() => {
      if (this.current.get(spec.name) === instance) this.current.delete(spec.name)
      this.retired.delete(instance)
    })
    return Effect.gen(this, function*() {
      this.current.set(spec.name, instance)
      this.starts.set(spec.name, (this.starts.get(spec.name) ?? 0) + 1)
      yield* Effect.addFinalizer(() => forget)
      const apiKey = yield* resolveApiKey(spec)
      const context = yield* Layer.build(this.backends[spec.backend]!(spec, { apiKey })).pipe(
        Effect.mapError((cause) =>
          new EngineRegistryError({ reason: "StartFailed", engine: spec.name, description: describe(cause), cause })
        )
      )
      instance.state = "ready"
      return { instance, service: Context.get(context, LanguageModel.LanguageModel) }
    }).pipe(Effect.onError(() => forget))
  }

  /** Takes an instance out of the registry: closed now if unused, else when its last user releases it. */
  invalidate(key: Key): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.keys.get(key.engine) === key) {
        this.keys.set(key.engine, Data.struct({ engine: key.engine, generation: key.generation + 1 }))
      }
      return RcMap.invalidate(this.map, key)
    })
  }

  unknown(engine: string): EngineRegistryError {
    return new EngineRegistryError({ reason: "UnknownEngine", engine, known: this.names })
  }

  get(engine: string): Effect.Effect<LanguageModel.Service, EngineRegistryError, Scope.Scope> {
    return Effect.suspend(() => {
      const key = this.keys.get(engine)
      if (key === undefined) return Effect.fail(this.unknown(engine))
      return Effect.flatMap(
        RcMap.get(this.map, key).pipe(Effect.tapError(() => this.invalidate(key))),
        (entry) => Effect.as(hold(entry.instance), entry.service)
      )
    })
  }

  warmup(selected?: ReadonlyArray<string> | undefined): Effect.Effect<void, EngineRegistryError> {
    return Effect.suspend(() => {
      const targets = selected ?? this.names
      const missing = targets.find((engine) => !this.specs.has(engine))
      if (missing !== undefined) return Effect.fail(this.unknown(missing))
      return Effect.scoped(
        Effect.forEach(targets, (engine) => this.get(engine), { concurrency: "unbounded", discard: true })
      )
    }).pipe(Effect.withSpan("EngineRegistry.warmup"))
  }

  flush(options?: { readonly force?: boolean | undefined } | undefined): Effect.Effect<ReadonlyArray<string>> {
    return Effect.suspend(() => {
      const force = options?.force === true
      const targets: Array<Instance> = []
      for (const [engine, instance] of this.current) {
        if (instance.state === "ready" && instance.refCount === 0) {
          targets.push(instance)
        } else if (force) {
          this.current.delete(engine)
          this.retired.add(instance)
          targets.push(instance)
        }
      }
      return Effect.as(
        Effect.forEach(targets, (instance) => this.invalidate(instance.key), { discard: true }),
        targets.map((instance) => instance.key.engine)
      )
    }).pipe(Effect.withSpan("EngineRegistry.flush"))
  }

  status(): ReadonlyArray<EngineStatus> {
    return this.definition.engines.map((spec): EngineStatus => {
      const instance = this.current.get(spec.name)
      let retiredUsers = 0
      for (const old of this.retired) if (old.key.engine === spec.name) retiredUsers += old.refCount
      return {
        engine: spec.name,
        backend: spec.backend,
        model: spec.model,
        lazy: spec.lazy ?? true,
        state: instance === undefined
          ? "stopped"
          : instance.state === "starting"
          ? "starting"
          : instance.refCount > 0
          ? "in-use"
          : "idle",
        refCount: instance?.refCount ?? 0,
        retired: retiredUsers,
        starts: this.starts.get(spec.name) ?? 0
      }
    })
  }
}

/** Counts a user of the instance until the enclosing scope closes. */
const hold = (instance: Instance): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      instance.refCount++
    }),
    () =>
      Effect.sync(() => {
        instance.refCount--
      })
  )
