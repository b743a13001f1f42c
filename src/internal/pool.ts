/**
 * The concurrency core: runs an effectful function over the elements of a stream with a fixed set of long-lived
 * worker fibers (no fiber per element), a bounded window of elements in flight, and chunk-level hand-offs.
 *
 * - `concurrency <= 1`: a channel loop that runs the function in the consumer's fiber. Elements whose effect is
 *   already complete (`Effect.succeed`, `Effect.void`: they are `Exit` values) are handled without entering the
 *   runtime, and consecutive results are emitted as one chunk of at most `bufferSize` elements; an element whose
 *   effect suspends is emitted as soon as it completes.
 * - `concurrency > 1`: `concurrency` worker fibers forked in the stream's scope take elements from the current
 *   upstream chunk (the worker that finds the input empty pulls the next chunk), run the function and put the result
 *   in a ring buffer indexed by sequence number (ordered) or a ready list (unordered). The consumer takes every
 *   ready result in one chunk. At most `concurrency + bufferSize` elements are started and not yet emitted.
 * - A consumer that finds no result starts elements itself: those already complete are stored at once and a worker
 *   is woken only to run one that suspends, so synchronous elements cost no fiber hand-off at all.
 * - The consumer is woken where a worker stops: at once when the worker has nothing it may start (the window is
 *   full and enough results wait, or its input is empty), so that with a small `bufferSize` workers start again in
 *   the same macrotask; on the next macrotask when the worker goes on with a suspended element, so that results
 *   completing together (timers firing in one batch) reach the consumer in one chunk.
 *
 * Wake-ups are plain callbacks registered with `Effect.async` (no `Deferred` or `Queue` per element).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"

/** The result that drops an element from the output (a filter, a skipped failure). */
export const Skip: unique symbol = Symbol.for("sluice/internal/pool/Skip")
export type Skip = typeof Skip

export interface Options {
  readonly concurrency: number
  readonly ordered: boolean
  readonly bufferSize: number
  /** Once it completes: no more elements, the elements in flight dropped, the stream ends (see `pooled`). */
  readonly stop?: Effect.Effect<void> | undefined
  /**
   * The parent span of the elements' effects (the workers, or the sequential loop's effects, run under it), for a
   * caller that does not give its span to the whole stream (which would provide it again for every chunk).
   */
  readonly span?: Tracer.AnySpan | undefined
}

/**
 * Per-worker scratch space a {@link Step} may use to carry data from `start` to `succeed`/`fail` (e.g. a start
 * time) without allocating per element. Each worker (and the sequential loop) has its own.
 */
export interface Slot {
  t0: number
  async: boolean
}

/**
 * What the core runs for each element: `start` returns the element's effect (an `Exit` when already complete),
 * `succeed` maps its value to the output (or {@link Skip}), and `fail` maps its failure to an output (a success
 * `Exit`) or to the failure of the stream. `succeed` and `fail` run synchronously in the worker, right after the
 * element completes, so no closure is allocated per element.
 */
export interface Step<A, B, E, R> {
  readonly start: (a: A, index: number, slot: Slot) => Effect.Effect<unknown, unknown, R>
  readonly succeed: (value: any, a: A, index: number, slot: Slot) => B | Skip
  readonly fail: (cause: Cause.Cause<any>, a: A, index: number, slot: Slot) => Exit.Exit<B | Skip, E>
}

/**
 * The step of a plain function: its value is the output, its failure fails the stream.
 */
export const fromFunction = <A, B, E, R>(
  f: (a: A, index: number) => Effect.Effect<B | Skip, E, R>
): Step<A, B, E, R> => ({ start: f, succeed: identity, fail: Exit.failCause })

const identity = <A>(a: A): A => a

const makeSlot = (): Slot => ({ t0: -1, async: false })

/**
 * Runs `step` over every element of `self` (see the module note).
 */
export const run = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  step: Step<A, B, E2, R2>,
  options: Options
): Stream.Stream<B, E | E2, R | R2> =>
  options.concurrency <= 1 && options.stop === undefined
    ? sequential(self, step, Math.max(1, options.bufferSize), options.span)
    : pooled(self, step, options)

// =============================================================================
// sequential
// =============================================================================

interface Batch<E> {
  readonly next: number
  readonly failure: Cause.Cause<E> | undefined
}

const sequential = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  step: Step<A, B, E2, R2>,
  batch: number,
  span: Tracer.AnySpan | undefined
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.pipeThroughChannel(self, Channel.suspend(() => new Sequential<A, B, E, E2, R2>(step, batch, span).read))

type Loop<A, B, E, E2, R2> = Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<A>, E | E2, E, unknown, unknown, R2>

/** The channel loop of one sequential run: the consumer's fiber runs every element. */
class Sequential<A, B, E, E2, R2> {
  private index = 0
  private readonly slot = makeSlot()

  constructor(
    readonly step: Step<A, B, E2, R2>,
    readonly batch: number,
    readonly span: Tracer.AnySpan | undefined
  ) {}

  readonly read: Loop<A, B, E, E2, R2> = Channel.readWithCause({
    onInput: (chunk: Chunk.Chunk<A>) => this.process(Chunk.toReadonlyArray(chunk), 0),
    onFailure: Channel.failCause,
    onDone: () => Channel.void
  })

  private emit(out: Array<B>, next: Loop<A, B, E, E2, R2>): Loop<A, B, E, E2, R2> {
    return out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
  }

  private after(items: ReadonlyArray<A>, out: Array<B>, batch: Batch<E2>): Loop<A, B, E, E2, R2> {
    return this.emit(
      out,
      batch.failure !== undefined
        ? Channel.failCause(batch.failure)
        : batch.next < items.length
        ? Channel.suspend(() => this.process(items, batch.next))
        : this.read
    )
  }

  /** Handles an element's result: `undefined` to go on, or the failure that ends the stream. */
  private settle(exit: Exit.Exit<B | Skip, E2>, out: Array<B>): Cause.Cause<E2> | undefined {
    if (Exit.isFailure(exit)) return exit.cause
    if (exit.value !== Skip) out.push(exit.value)
    return undefined
  }

  private completed(effect: Exit.Exit<unknown, unknown>, item: A, i: number): Exit.Exit<B | Skip, E2> {
    return Exit.isSuccess(effect)
      ? Exit.succeed(this.step.succeed(effect.value, item, i, this.slot))
      : this.step.fail(effect.cause, item, i, this.slot)
  }

  /**
   * Runs the elements `[start, end)` of `items` once the first of them (`first`) suspended: each completed element
   * is added to `out`, and the batch ends early when the clock has moved since it started (so slow elements are
   * emitted as they complete, and fast ones in chunks).
   */
  private resume(
    items: ReadonlyArray<A>,
    start: number,
    end: number,
    out: Array<B>,
    first: Effect.Effect<unknown, unknown, R2>
  ): Effect.Effect<Batch<E2>, never, R2> {
    const { slot, step } = this
    return Effect.clockWith((clock) => {
      const t0 = clock.unsafeCurrentTimeMillis()
      let i = start
      let current = this.index - 1
      const next = (): Effect.Effect<Batch<E2>, never, R2> => {
        i++
        while (i < end && clock.unsafeCurrentTimeMillis() === t0) {
          current = this.index++
          const effect = step.start(items[i]!, current, slot)
          if (!Exit.isExit(effect)) return Effect.matchCauseEffect(effect, handlers)
          const failure = this.settle(this.completed(effect, items[i]!, current), out)
          if (failure !== undefined) return Effect.succeed({ next: i + 1, failure })
          i++
        }
        return Effect.succeed({ next: i, failure: undefined })
      }
      const handlers = {
        onFailure: (cause: Cause.Cause<unknown>) => {
          const failure = this.settle(step.fail(cause, items[i]!, current, slot), out)
          return failure !== undefined ? Effect.succeed({ next: i + 1, failure }) : next()
        },
        onSuccess: (value: unknown) => {
          const output = step.succeed(value, items[i]!, current, slot)
          if (output !== Skip) out.push(output)
          return next()
        }
      }
      return Effect.matchCauseEffect(first, handlers)
    })
  }

  private process(items: ReadonlyArray<A>, from: number): Loop<A, B, E, E2, R2> {
    const out: Array<B> = []
    const end = Math.min(items.length, from + this.batch)
    for (let i = from; i < end; i++) {
      const current = this.index++
      const effect = this.step.start(items[i]!, current, this.slot)
      if (Exit.isExit(effect)) {
        const failure = this.settle(this.completed(effect, items[i]!, current), out)
        if (failure !== undefined) return this.emit(out, Channel.failCause(failure))
        continue
      }
      const resumed = this.resume(items, i, end, out, effect)
      return Channel.flatMap(
        Channel.fromEffect(this.span === undefined ? resumed : Effect.withParentSpan(resumed, this.span)),
        (batch) => this.after(items, out, batch)
      )
    }
    return this.emit(out, end < items.length ? Channel.suspend(() => this.process(items, end)) : this.read)
  }
}

// =============================================================================
// pooled
// =============================================================================

const Empty: unique symbol = Symbol.for("sluice/internal/pool/Empty")

/**
 * A worker that has nothing it may start (the window is full) wakes the consumer at once when this many results
 * wait (or the whole window): their workers start again in the same macrotask, while the consumer still takes
 * results in chunks rather than one by one. With fewer waiting, it is woken on the next macrotask.
 */
const handOff = 16

type Resume = (effect: Effect.Effect<void>) => void

/** A parked worker, as the pool and the consumer see it. */
interface Parked<A> {
  readonly slot: Slot
  /** Resumes the worker: it looks for work itself. */
  wake(): void
  /** Resumes the worker with an element the consumer started, whose effect it runs. */
  assign(effect: Effect.Effect<unknown, unknown, any>, item: A, seq: number): void
}

class Pool<A, B> {
  /** The current upstream chunk and the position of its next element. */
  input: ReadonlyArray<A> = []
  pos = 0
  pulling = false
  upstreamDone = false
  /** Elements started, completed (result stored) and consumed (handed downstream, skips included). */
  started = 0
  completed = 0
  consumed = 0
  failure: Cause.Cause<unknown> | undefined = undefined
  /** Stopped: the elements in flight were dropped, nothing more starts. */
  stopped = false
  /** Ordered mode: results by sequence number modulo `window`. */
  readonly ring: Array<B | Skip | typeof Empty>
  /** Unordered mode: results in completion order. */
  ready: Array<B | Skip> = []
  readonly idle: Array<Parked<A>> = []
  consumer: Resume | undefined = undefined
  /**
   * Elements started in a row whose effect was already complete. Unless a whole window of them has, a drain wakes a
   * worker to start the next elements while the consumer passes the results on; after that the consumer starts
   * them itself on its next pull (see {@link consumer}).
   */
  syncRun = 0
  flushScheduled = false
  kickScheduled = false
  /** How many waiting results make a worker that has nothing it may start wake the consumer at once. */
  readonly handOff: number

  constructor(readonly window: number, readonly ordered: boolean) {
    this.ring = ordered ? new Array(window).fill(Empty) : []
    this.handOff = Math.min(handOff, window)
  }

  get pending(): number {
    return this.input.length - this.pos
  }

  get canStart(): boolean {
    return this.started - this.consumed < this.window
  }

  /** Whether the consumer would take at least one result now. */
  get drainable(): boolean {
    return this.ordered ? this.ring[this.consumed % this.window] !== Empty : this.ready.length > 0
  }

  /**
   * Wakes one idle worker when there is work it could start (or an upstream chunk to pull); a worker that starts an
   * element which suspends wakes the next one, so synchronous elements never wake workers that would find nothing
   * to do. When upstream is exhausted every idle worker is woken to exit.
   */
  kick(): void {
    if (this.failure !== undefined || this.idle.length === 0) return
    if (this.upstreamDone) {
      const idle = this.idle.splice(0, this.idle.length)
      for (const worker of idle) worker.wake()
      return
    }
    if (this.canStart && (this.pending > 0 || !this.pulling)) this.idle.pop()!.wake()
  }

  /**
   * Once the current worker has suspended (or yielded) on an element, wakes as many idle workers as there are
   * elements they could start: the elements are most likely as slow as that one. An element that completes
   * synchronously lets its worker go on with the next one, and no other worker is woken for nothing.
   */
  kickSoon(): void {
    if (!this.kickScheduled && this.idle.length > 0) {
      this.kickScheduled = true
      queueMicrotask(this.kickTask)
    }
  }

  readonly kickTask = (): void => {
    this.kickScheduled = false
    if (this.failure !== undefined || this.upstreamDone && this.pending === 0) return this.kick()
    let wanted = Math.min(this.pending, this.window - (this.started - this.consumed))
    while (wanted-- > 0 && this.idle.length > 0) this.idle.pop()!.wake()
  }

  /** Wakes the waiting consumer now (its fiber runs on the next microtask). */
  wakeConsumer(): void {
    const consumer = this.consumer
    if (consumer !== undefined) {
      this.consumer = undefined
      consumer(Effect.void)
    }
  }

  /**
   * Wakes the waiting consumer on the next macrotask, so that every result completed in the current one (e.g. by all
   * the timers that fired together) reaches it in one chunk. Only while workers are busy on further elements: a
   * worker that has nothing it may start wakes the consumer at once ({@link wakeConsumer}).
   */
  wakeConsumerSoon(): void {
    if (this.consumer !== undefined && !this.flushScheduled) {
      this.flushScheduled = true
      defer(this.flush)
    }
  }

  readonly flush = (): void => {
    this.flushScheduled = false
    this.wakeConsumer()
  }

  deliver(seq: number, value: B | Skip): void {
    this.completed++
    if (this.ordered) this.ring[seq % this.window] = value
    else this.ready.push(value)
  }

  fail(cause: Cause.Cause<unknown>): void {
    if (this.failure === undefined) this.failure = cause
    this.wakeConsumer()
  }

  readonly onPulled = (chunk: Chunk.Chunk<A>): Effect.Effect<void> => {
    this.onConsumerPulled(chunk)
    this.kick()
    return Effect.void
  }

  /** The consumer starts the elements of a chunk it pulled itself: no worker is woken for them. */
  readonly onConsumerPulled = (chunk: Chunk.Chunk<A>): Effect.Effect<void> => {
    this.pulling = false
    if (this.stopped) return Effect.void
    this.input = Chunk.toReadonlyArray(chunk)
    this.pos = 0
    return Effect.void
  }

  readonly onPullFailed = (cause: Cause.Cause<Option.Option<unknown>>): Effect.Effect<void> => {
    this.pulling = false
    const failure = Cause.flipCauseOption(cause)
    if (Option.isNone(failure)) {
      this.upstreamDone = true
      this.kick()
      if (this.done) this.wakeConsumer()
    } else {
      this.fail(failure.value)
    }
    return Effect.void
  }

  get done(): boolean {
    return this.upstreamDone && this.pending === 0 && (this.stopped || this.completed === this.started)
  }

  /** Stops the pool (its workers are interrupted): nothing more starts, and it is done once drained. */
  stop(): void {
    this.stopped = true
    this.upstreamDone = true
    this.input = []
    this.pos = 0
    this.wakeConsumer()
  }

  /** Takes every result that can be handed downstream now. */
  drain(): Array<B> | undefined {
    let taken = 0
    const out: Array<B> = []
    if (this.ordered) {
      const ring = this.ring
      const window = this.window
      let slot = this.consumed % window
      let value = ring[slot]!
      while (value !== Empty) {
        ring[slot] = Empty
        if (value !== Skip) out.push(value)
        taken++
        slot = slot + 1 === window ? 0 : slot + 1
        value = ring[slot]!
      }
    } else {
      const ready = this.ready
      if (ready.length > 0) {
        this.ready = []
        for (let i = 0; i < ready.length; i++) {
          const value = ready[i]!
          if (value !== Skip) out.push(value)
        }
        taken = ready.length
      }
    }
    if (taken === 0) return undefined
    this.consumed += taken
    if (this.syncRun < this.window || this.upstreamDone) this.kick()
    return out
  }
}

const defer: (f: () => void) => void = typeof globalThis.setImmediate === "function"
  ? (f) => globalThis.setImmediate(f)
  : (f) => globalThis.setTimeout(f, 0)

const pooled = <A, E, R, B, E2, R2>(
  self: Stream.Stream<A, E, R>,
  step: Step<A, B, E2, R2>,
  options: Options
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(self)
    const pool = new Pool<A, B>(options.concurrency + Math.max(0, options.bufferSize), options.ordered)
    const pullNext = Effect.matchCauseEffect(pull, { onFailure: pool.onPullFailed, onSuccess: pool.onPulled })
    const consumerPull = Effect.matchCauseEffect(pull, {
      onFailure: pool.onPullFailed,
      onSuccess: pool.onConsumerPulled
    })
    const workers: Array<Fiber.RuntimeFiber<void>> = []
    for (let i = 0; i < options.concurrency; i++) {
      const body = new Worker(pool, step, pullNext).run
      workers.push(
        yield* Effect.forkScoped(options.span === undefined ? body : Effect.withParentSpan(body, options.span))
      )
    }
    // a graceful stop: the workers (and the elements they run) are interrupted, the results already stored stay
    if (options.stop !== undefined) {
      yield* options.stop.pipe(
        Effect.zipRight(Fiber.interruptAll(workers)),
        Effect.zipRight(Effect.sync(() => pool.stop())),
        Effect.forkScoped
      )
    }
    // with a stop, only workers pull upstream: a stop interrupts them, and so a slow pull
    return Stream.repeatEffectChunkOption(
      consumer<A, B, E | E2, R, R2>(pool, step, options.stop === undefined ? consumerPull : undefined)
    )
  }))

/**
 * One worker: takes elements from the current upstream chunk (pulling the next one when it finds it empty) while
 * the window has room, runs them, and stores their results. Where it stops (an element suspends, the window is full,
 * the input is empty) it hands what is ready to a waiting consumer: at once when it has nothing it may start, on the
 * next macrotask when it goes on with a suspended element (see {@link Pool.wakeConsumerSoon}). Parked, it may be
 * given an element the consumer started (see {@link consumer}).
 */
class Worker<A, B, E2, R, R2> implements Parked<A> {
  seq = 0
  item: A | undefined = undefined
  readonly slot = makeSlot()
  private resume: Resume | undefined = undefined
  private assigned: Effect.Effect<unknown, unknown, R2> | undefined = undefined

  private readonly pullThenLoop: Effect.Effect<void, never, R | R2>

  constructor(
    readonly pool: Pool<A, B>,
    readonly step: Step<A, B, E2, R2>,
    readonly pullNext: Effect.Effect<void, never, R>
  ) {
    this.pullThenLoop = Effect.zipRight(pullNext, this.loop)
  }

  wake(): void {
    const resume = this.resume
    if (resume !== undefined) {
      this.resume = undefined
      resume(Effect.void)
    }
  }

  assign(effect: Effect.Effect<unknown, unknown, R2>, item: A, seq: number): void {
    this.assigned = effect
    this.item = item
    this.seq = seq
    this.wake()
  }

  private settle(exit: Exit.Exit<B | Skip, E2>): void {
    if (Exit.isSuccess(exit)) this.pool.deliver(this.seq, exit.value)
    else this.pool.fail(exit.cause)
  }

  private readonly unregister = Effect.sync(() => {
    this.resume = undefined
    const i = this.pool.idle.indexOf(this)
    if (i >= 0) this.pool.idle.splice(i, 1)
  })

  private readonly park: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.resume = resume
    this.pool.idle.push(this)
    return this.unregister
  })

  private readonly handlers = {
    onFailure: (cause: Cause.Cause<unknown>): Effect.Effect<void, never, R | R2> => {
      this.settle(this.step.fail(cause, this.item!, this.seq, this.slot))
      return this.loop
    },
    onSuccess: (value: unknown): Effect.Effect<void, never, R | R2> => {
      this.pool.deliver(this.seq, this.step.succeed(value, this.item!, this.seq, this.slot))
      return this.loop
    }
  }

  private readonly loop: Effect.Effect<void, never, R | R2> = Effect.suspend(() => {
    const { pool, slot, step } = this
    while (pool.failure === undefined) {
      if (pool.pending > 0 && pool.canStart) {
        const seq = this.seq = pool.started++
        const item = this.item = pool.input[pool.pos++]!
        const effect = step.start(item, seq, slot)
        if (!Exit.isExit(effect)) {
          pool.syncRun = 0
          if (pool.pending > 0 && pool.canStart) pool.kickSoon()
          if (pool.drainable) pool.wakeConsumerSoon()
          return Effect.matchCauseEffect(effect, this.handlers)
        }
        pool.syncRun++
        if (Exit.isSuccess(effect)) pool.deliver(seq, step.succeed(effect.value, item, seq, slot))
        else this.settle(step.fail(effect.cause, item, seq, slot))
        continue
      }
      if (pool.done || pool.drainable && (pool.pending === 0 || pool.completed - pool.consumed >= pool.handOff)) {
        pool.wakeConsumer()
      } else if (pool.drainable) {
        pool.wakeConsumerSoon()
      }
      if (pool.pending === 0 && pool.upstreamDone) return Effect.void
      if (pool.pending === 0 && !pool.pulling && pool.canStart) {
        pool.pulling = true
        return this.pullThenLoop
      }
      return this.parkThenResume
    }
    return Effect.void
  })

  /** After a wake-up: the element the consumer assigned, if any, then the loop. */
  private readonly resumed: Effect.Effect<void, never, R | R2> = Effect.suspend(() => {
    const effect = this.assigned
    if (effect === undefined) return this.loop
    this.assigned = undefined
    return Effect.matchCauseEffect(effect, this.handlers)
  })

  private readonly parkThenResume = Effect.zipRight(this.park, this.resumed)

  readonly run: Effect.Effect<void, never, R | R2> = Effect.onExit(
    this.loop,
    (exit) =>
      Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? Effect.sync(() => this.pool.fail(exit.cause))
        : Effect.void
  )
}

/**
 * The consumer's pull: every result that can be handed on, as one chunk. When there is none, it starts elements
 * itself (each with the scratch slot of an idle worker): those already complete are stored at once, and a worker is
 * woken only for one that suspends, to run it. So elements that complete synchronously run in the consumer's fiber
 * in chunks of up to the window, as with one worker, and no worker is woken for them. Given `pullNext`, it pulls
 * upstream itself when nothing is in flight (else a worker does, so that results completing meanwhile are not held
 * up), then waits.
 */
const consumer = <A, B, E, R, R2>(
  pool: Pool<A, B>,
  step: Step<A, B, unknown, R2>,
  pullNext: Effect.Effect<void, never, R> | undefined
): Effect.Effect<Chunk.Chunk<B>, Option.Option<E>, R> => {
  const unregister = Effect.sync(() => {
    pool.consumer = undefined
  })
  const waitConsumer: Effect.Effect<void> = Effect.async<void>((resume) => {
    pool.consumer = resume
    return unregister
  })
  const dispatch = (): void => {
    while (pool.failure === undefined && pool.pending > 0 && pool.canStart && pool.idle.length > 0) {
      const worker = pool.idle[pool.idle.length - 1]!
      const seq = pool.started++
      const item = pool.input[pool.pos++]!
      const effect = step.start(item, seq, worker.slot)
      if (!Exit.isExit(effect)) {
        pool.syncRun = 0
        pool.idle.pop()
        worker.assign(effect, item, seq)
        continue
      }
      pool.syncRun++
      const exit = Exit.isSuccess(effect)
        ? Exit.succeed(step.succeed(effect.value, item, seq, worker.slot))
        : step.fail(effect.cause, item, seq, worker.slot)
      if (Exit.isSuccess(exit)) pool.deliver(seq, exit.value)
      else pool.fail(exit.cause)
    }
  }
  const next: Effect.Effect<Chunk.Chunk<B>, Option.Option<E>, R> = Effect.suspend(() => {
    for (;;) {
      if (pool.failure !== undefined) return Effect.failCause(Cause.map(pool.failure as Cause.Cause<E>, Option.some))
      const out = pool.drain()
      if (out !== undefined) {
        if (out.length > 0) return Effect.succeed(Chunk.unsafeFromArray(out))
        continue
      }
      if (pool.done) return Effect.fail(Option.none())
      if (pool.pending > 0 && pool.canStart && pool.idle.length > 0) {
        dispatch()
        if (pool.failure !== undefined || pool.drainable) continue
      }
      if (pool.pending === 0 && !pool.pulling && !pool.upstreamDone && pool.canStart) {
        if (pullNext !== undefined && pool.started === pool.completed) {
          pool.pulling = true
          return pullThenNext
        }
        pool.kick()
      }
      return waitThenNext
    }
  })
  const waitThenNext = Effect.zipRight(waitConsumer, next)
  const pullThenNext = pullNext === undefined ? next : Effect.zipRight(pullNext, next)
  return next
}
