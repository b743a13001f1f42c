/**
 * The statistics of one step in one run: counts, a reservoir of sampled item durations, and the Effect `Metric`s
 * they feed (the counters are updated in batches).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type { StepKind, StepMetadata } from "../../Pipeline.js"
import { quantile, Reservoir } from "../reservoir.js"
import type { Settings } from "./definition.js"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

export const metrics = {
  items: counter("sluice_pipeline_items", "Items started by a pipeline step"),
  outputs: counter("sluice_pipeline_outputs", "Items passed on by a pipeline step"),
  errors: counter("sluice_pipeline_errors", "Items failed in a pipeline step"),
  retries: counter("sluice_pipeline_retries", "Item retries in a pipeline step"),
  duration: Metric.summary({
    name: "sluice_pipeline_item_duration_ms",
    description: "Duration of sampled items of a pipeline step, in milliseconds",
    maxAge: "10 minutes",
    maxSize: 1024,
    error: 0.01,
    quantiles: [0.5, 0.95, 0.99]
  })
} as const

export class StepRecorder {
  readonly id: string
  readonly kind: StepKind
  readonly path: ReadonlyArray<string>
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  items = 0
  outputs = 0
  errors = 0
  retries = 0
  firstAt = -1
  lastAt = -1
  /**
   * Counts not yet added to the `Metric` counters: flushed every 256 items, when a timed item completes a second or
   * more after the last flush, after each chunk of a whole-stream step and at the end of the run.
   */
  pendingItems = 0
  flushedAt = -1
  pendingOutputs = 0
  readonly reservoir: Reservoir
  readonly rate: number

  constructor(settings: Settings, def: { readonly id: string; readonly kind: StepKind }, readonly clock: Clock.Clock) {
    this.id = def.id
    this.kind = def.kind
    this.path = [settings.name, def.id]
    this.labels = [MetricLabel.make("pipeline", settings.name), MetricLabel.make("step", def.id)]
    this.reservoir = new Reservoir(settings.reservoirSize)
    this.rate = settings.sampleRate
  }

  /** Whether the duration of the item at `index` is measured (per `sampleRate`). */
  sampled(index: number): boolean {
    const rate = this.rate
    return rate >= 1 || (rate > 0 && Math.floor((index + 1) * rate) > Math.floor(index * rate))
  }

  started(n: number): void {
    this.items += n
    this.pendingItems += n
    if (this.firstAt < 0) this.firstAt = this.clock.unsafeCurrentTimeMillis()
    if (this.pendingItems >= 256) this.flush()
  }

  passed(n: number): void {
    this.outputs += n
    this.pendingOutputs += n
    if (this.pendingOutputs >= 256) this.flush()
  }

  /** Records the time of the step's latest activity. */
  touch(now: number): void {
    if (now > this.lastAt) this.lastAt = now
  }

  record(durationMs: number, now: number): void {
    this.touch(now)
    this.reservoir.add(durationMs)
    metrics.duration.unsafeUpdate(durationMs, this.labels)
    if (now - this.flushedAt >= 1000) this.flush()
  }

  failed(now: number): void {
    this.errors++
    this.touch(now)
    metrics.errors.unsafeUpdate(1, this.labels)
  }

  retried(): void {
    this.retries++
    metrics.retries.unsafeUpdate(1, this.labels)
  }

  flush(): void {
    this.flushedAt = this.lastAt
    if (this.pendingItems > 0) {
      metrics.items.unsafeUpdate(this.pendingItems, this.labels)
      this.pendingItems = 0
    }
    if (this.pendingOutputs > 0) {
      metrics.outputs.unsafeUpdate(this.pendingOutputs, this.labels)
      this.pendingOutputs = 0
    }
  }

  metadata(): StepMetadata {
    const durationMs = this.firstAt < 0 || this.lastAt < 0 ? 0 : Math.max(0, this.lastAt - this.firstAt)
    const sorted = this.reservoir.sorted()
    return {
      step: this.id,
      kind: this.kind,
      items: this.items,
      outputs: this.outputs,
      errors: this.errors,
      retries: this.retries,
      durationMs,
      throughput: durationMs > 0 ? (this.items * 1000) / durationMs : 0,
      samples: this.reservoir.seen,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99)
    }
  }
}
