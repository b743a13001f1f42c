/**
 * Figures across the invocations of one run folder: `metrics.json` holds the cumulative figures at its top level and
 * one entry per invocation under `invocations`; a resumed run reads them back and adds its own.
 */
import type { Latency, StepStats } from "../../Runner.js"

/** The cumulative figures a resumed run starts from. */
export interface Base {
  readonly startedAt: string | undefined
  readonly durationMs: number
  readonly done: number
  readonly filtered: number
  readonly steps: Readonly<Record<string, StepStats>>
  readonly invocations: ReadonlyArray<unknown>
}

/** The most invocations kept in `metrics.json`. */
export const maxInvocations = 100

/** Nothing before: a fresh run folder. */
export const empty: Base = { startedAt: undefined, durationMs: 0, done: 0, filtered: 0, steps: {}, invocations: [] }

const num = (u: unknown): number => typeof u === "number" && Number.isFinite(u) ? u : 0

const obj = (u: unknown): Record<string, unknown> =>
  u !== null && typeof u === "object" && !Array.isArray(u) ? u as Record<string, unknown> : {}

/**
 * Reads the cumulative figures of a previous `metrics.json` (an older file holding one invocation's figures reads as
 * that invocation). Steps not in `keep` (run again from scratch) start from zero.
 */
export const fromMetrics = (json: unknown, keep: (step: string) => boolean): Base => {
  const m = obj(json)
  const items = obj(m.items)
  const steps: Record<string, StepStats> = {}
  for (const [id, value] of Object.entries(obj(m.steps))) if (keep(id)) steps[id] = stepStats(value)
  const invocations = (Array.isArray(m.invocations)
    ? m.invocations
    : m.runId === undefined
    ? []
    : [{ runId: m.runId, startedAt: m.startedAt, status: m.status, durationMs: m.durationMs, items: m.items }])
    // an invocation still "running" in the file was killed before it could say how it ended
    .map((i: unknown) => obj(i).status === "running" ? { ...obj(i), status: "killed" } : i)
  return {
    startedAt: typeof m.startedAt === "string" ? m.startedAt : undefined,
    durationMs: num(m.durationMs),
    done: num(items.done),
    filtered: num(items.filtered),
    steps,
    invocations
  }
}

const stepStats = (u: unknown): StepStats => {
  const s = obj(u)
  const latency = obj(s.latencyMs)
  const tokens = obj(s.tokens)
  return {
    done: num(s.done),
    filtered: num(s.filtered),
    errors: num(s.errors),
    retries: num(s.retries),
    latencyMs: {
      p50: num(latency.p50),
      p95: num(latency.p95),
      p99: num(latency.p99),
      mean: num(latency.mean),
      max: num(latency.max)
    },
    tokens: { input: num(tokens.input), output: num(tokens.output), total: num(tokens.total) }
  }
}

/**
 * Adds one invocation's step figures to the cumulative ones. Counts and tokens add up; the mean is weighted by the
 * items timed, the maximum is the larger one, and the percentiles are the timed-item-weighted average of both (an
 * approximation: the samples themselves are not kept across invocations).
 */
export const addSteps = (
  base: Readonly<Record<string, StepStats>>,
  current: Readonly<Record<string, StepStats>>
): Record<string, StepStats> => {
  const out: Record<string, StepStats> = { ...base }
  for (const [id, c] of Object.entries(current)) {
    const b = base[id]
    out[id] = b === undefined ? c : addStep(b, c)
  }
  return out
}

const addStep = (b: StepStats, c: StepStats): StepStats => {
  const wb = b.done + b.filtered
  const wc = c.done + c.filtered
  const w = wb + wc
  const avg = (x: number, y: number) => w === 0 ? 0 : (x * wb + y * wc) / w
  const latency = (x: Latency, y: Latency): Latency => ({
    p50: avg(x.p50, y.p50),
    p95: avg(x.p95, y.p95),
    p99: avg(x.p99, y.p99),
    mean: avg(x.mean, y.mean),
    max: Math.max(x.max, y.max)
  })
  return {
    done: b.done + c.done,
    filtered: b.filtered + c.filtered,
    errors: b.errors + c.errors,
    retries: b.retries + c.retries,
    latencyMs: latency(b.latencyMs, c.latencyMs),
    tokens: {
      input: b.tokens.input + c.tokens.input,
      output: b.tokens.output + c.tokens.output,
      total: b.tokens.total + c.tokens.total
    }
  }
}
