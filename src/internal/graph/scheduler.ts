/**
 * The graph scheduler. Ready activations wait in a FIFO; up to `concurrency` worker fibers take them one at a time,
 * and the worker that finishes a step schedules its successors itself (no coordinator fiber, no fiber per step: a
 * linear graph runs in one fiber). Bookkeeping is synchronous, so it is atomic.
 *
 * A barrier step (several predecessors) is held back until no predecessor can still arrive: a predecessor can when
 * one of the steps from which it is reachable (its ancestors, see `compile.ts`) is running or queued.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Event from "../../Event.js"
import type { Next } from "../../Graph.js"
import { GraphError } from "../../GraphError.js"
import * as StepEvents from "../stepEvents.js"
import type { Compiled } from "./compile.js"
import { type ContextBox, ContextTag, StateTag } from "./state.js"
import { attempts, emitThen, type Runtime, StepOutput } from "./step.js"

/** Runs a compiled graph within a run: its startup and shutdown hooks around the scheduler. */
export const execute = (graph: Compiled, runtime: Runtime): Effect.Effect<void, unknown, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    let box: ContextBox = { graph: graph.name, present: false, value: undefined }
    if (graph.startup !== undefined || graph.shutdown.length > 0) {
      const startup = graph.startup ?? Effect.void
      const shutdown = graph.shutdown
      const value = yield* Effect.acquireRelease(
        Effect.provideService(startup, StateTag, runtime.handle),
        (value, exit) =>
          Effect.forEach([...shutdown].reverse(), (release) => release(value, exit), { discard: true }).pipe(
            Effect.provideService(StateTag, runtime.handle)
          )
      )
      box = { graph: graph.name, present: graph.startup !== undefined, value }
    }
    const scope = yield* Effect.scope
    yield* schedule(graph, runtime, scope).pipe(
      Effect.provideService(StateTag, runtime.handle),
      Effect.provideService(ContextTag, box)
    )
  }))

const schedule = (graph: Compiled, runtime: Runtime, scope: Scope.Scope): Effect.Effect<void, unknown, unknown> =>
  Effect.flatMap(
    Deferred.make<void, unknown>(),
    (done) =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const scheduler = new Scheduler(graph, runtime, scope, done, clock)
          scheduler.enqueue(graph.entry)
          return Effect.zipRight(scheduler.spawn(0) ?? Effect.void, Deferred.await(done))
        })
      )
  )

/** The bookkeeping of one run of a compiled graph. */
class Scheduler {
  private readonly paths: Array<ReadonlyArray<string> | undefined>
  private readonly bodies: Array<Effect.Effect<unknown, unknown, unknown> | undefined>
  /** How many activations of each step are queued or running. */
  private readonly active: Int32Array
  /** For each barrier step: the predecessors that arrived since it last ran. */
  private readonly arrivals: Array<Set<number> | undefined>
  /** Barrier steps some predecessor arrived at, waiting for the others. */
  private readonly pending = new Set<number>()
  private ready: Array<number> = []
  private head = 0
  private inflight = 0
  private workers = 0
  private started = 0
  stopped = false

  constructor(
    readonly graph: Compiled,
    readonly runtime: Runtime,
    readonly scope: Scope.Scope,
    readonly done: Deferred.Deferred<void, unknown>,
    readonly clock: Clock.Clock
  ) {
    const n = graph.steps.length
    this.paths = new Array(n).fill(undefined)
    this.bodies = new Array(n).fill(undefined)
    this.active = new Int32Array(n)
    this.arrivals = new Array(n).fill(undefined)
  }

  pathOf(i: number): ReadonlyArray<string> {
    return this.paths[i] ??= [...this.runtime.prefix, this.graph.steps[i]!.id]
  }

  bodyOf(i: number): Effect.Effect<unknown, unknown, unknown> {
    return this.bodies[i] ??= attempts(this.graph, this.graph.steps[i]!, this.runtime, this.pathOf(i), execute)
  }

  enqueue(i: number): void {
    this.ready.push(i)
    this.active[i] = this.active[i]! + 1
    this.inflight++
  }

  /** The next queued activation, or `undefined` when the worker should stop (queue empty or run stopped). */
  take(): number | undefined {
    if (this.stopped || this.head === this.ready.length) {
      this.workers--
      if (this.head === this.ready.length) {
        this.ready = []
        this.head = 0
      }
      return undefined
    }
    return this.ready[this.head++]!
  }

  /** Counts an activation against `maxSteps`: the error when the run went over. */
  count(i: number): GraphError | undefined {
    if (++this.started <= this.graph.maxSteps) return undefined
    return new GraphError({
      graph: this.graph.name,
      reason: "MaxStepsExceeded",
      steps: [this.graph.steps[i]!.id],
      description: `more than ${this.graph.maxSteps} step runs`
    })
  }

  /** The successors of step `i` after it returned `result`: its `to`, the targets of a `Next`, none after `End`. */
  resolve(i: number, result: unknown): ReadonlyArray<number> | GraphError {
    if (result !== null && typeof result === "object" && "_tag" in result) {
      if (result._tag === "End") return []
      if (result._tag === "Next") {
        const out: Array<number> = []
        for (const target of (result as Next<string>).targets) {
          const t = this.graph.index.get(target)
          if (t === undefined) return this.unknownTarget(i, target)
          out.push(t)
        }
        return out
      }
    }
    return this.graph.steps[i]!.to
  }

  /** Step `i` finished: its successors are queued, or arrive at their barrier. */
  complete(i: number, successors: ReadonlyArray<number>): void {
    this.active[i] = this.active[i]! - 1
    this.inflight--
    for (const t of successors) {
      if (this.graph.preds[t] === undefined) {
        this.enqueue(t)
      } else {
        const arrived = this.arrivals[t] ??= new Set()
        arrived.add(i)
        this.pending.add(t)
      }
    }
    if (this.pending.size > 0) this.releaseBarriers()
    if (this.inflight === 0) Deferred.unsafeDone(this.done, Exit.void)
  }

  /** Forks workers for the queued activations beyond those `reserved` for the calling worker. */
  spawn(reserved: number): Effect.Effect<void, never, unknown> | undefined {
    const extra = Math.min(this.graph.concurrency - this.workers, this.ready.length - this.head - reserved)
    if (extra <= 0) return undefined
    this.workers += extra
    if (extra === 1) return Effect.asVoid(Effect.forkIn(worker(this), this.scope))
    return Effect.forEach(Array.from({ length: extra }), () => Effect.forkIn(worker(this), this.scope), {
      discard: true
    })
  }

  fail(cause: Cause.Cause<unknown>): Effect.Effect<void> {
    return Effect.sync(() => {
      this.stopped = true
      Deferred.unsafeDone(this.done, Exit.failCause(cause))
    })
  }

  private releaseBarriers(): void {
    for (const j of this.pending) {
      if (!this.blocked(j)) {
        this.pending.delete(j)
        this.arrivals[j] = undefined
        this.enqueue(j)
      }
    }
    if (this.inflight === 0) {
      // Barriers waiting on each other (possible with cycles): release them all.
      for (const j of this.pending) {
        this.arrivals[j] = undefined
        this.enqueue(j)
      }
      this.pending.clear()
    }
  }

  /** Whether barrier step `j` must wait: a predecessor that has not arrived still can. */
  private blocked(j: number): boolean {
    const preds = this.graph.preds[j]!
    const ancestors = this.graph.ancestors[j]!
    const arrived = this.arrivals[j]
    for (let k = 0; k < preds.length; k++) {
      if (arrived !== undefined && arrived.has(preds[k]!)) continue
      for (const s of ancestors[k]!) {
        if (this.active[s]! > 0 || (s !== j && this.pending.has(s))) return true
      }
    }
    return false
  }

  private unknownTarget(i: number, target: string): GraphError {
    const id = this.graph.steps[i]!.id
    return new GraphError({
      graph: this.graph.name,
      reason: "UnknownTarget",
      steps: [id, target],
      description: `step "${id}" routed to unknown step "${target}"`
    })
  }
}

/**
 * A worker takes the next ready activation and runs it, then the next, until the queue is empty. It runs one step at
 * a time, so it knows which step a failure comes from.
 */
const worker = (run: Scheduler): Effect.Effect<void, never, unknown> => {
  const { clock, runtime } = run
  const { runId } = runtime
  let current = -1
  let begin = 0

  const loop = (): Effect.Effect<void, unknown, unknown> => {
    current = -1
    const i = run.take()
    if (i === undefined) return Effect.void
    const exceeded = run.count(i)
    if (exceeded !== undefined) return Effect.fail(exceeded)
    current = i
    begin = clock.unsafeCurrentTimeMillis()
    const start: Event.Event = { _tag: "StepStart", runId, path: run.pathOf(i), timestamp: begin }
    return Effect.flatMap(emitThen(runtime, start, run.bodyOf(i)), finish)
  }

  const finish = (result: unknown): Effect.Effect<void, unknown, unknown> => {
    const i = current
    const next = run.resolve(i, result)
    if (next instanceof GraphError) return Effect.fail(next)
    const timestamp = clock.unsafeCurrentTimeMillis()
    const path = run.pathOf(i)
    const durationMs = timestamp - begin
    const event: Event.Event = result instanceof StepOutput
      ? { _tag: "StepEnd", runId, path, timestamp, durationMs, output: result.value }
      : { _tag: "StepEnd", runId, path, timestamp, durationMs }
    if (runtime.tryEmit(event)) return proceed(i, next)
    return Effect.zipRight(runtime.emit(event), Effect.suspend(() => proceed(i, next)))
  }

  const proceed = (i: number, next: ReadonlyArray<number>): Effect.Effect<void, unknown, unknown> => {
    if (run.stopped) return Effect.void
    run.complete(i, next)
    const forks = run.spawn(1)
    return forks === undefined ? loop() : Effect.zipRight(forks, Effect.suspend(loop))
  }

  return Effect.catchAllCause(Effect.suspend(loop), (cause) => {
    if (current < 0 || Cause.isInterruptedOnly(cause)) return run.fail(cause)
    const timestamp = clock.unsafeCurrentTimeMillis()
    const event = StepEvents.stepError({ runId, path: run.pathOf(current), timestamp }, cause)
    return emitThen(runtime, event, run.fail(cause))
  })
}
