/**
 * `sluice inspect <dir>` (a summary of a run folder: its run, item counts, a table of steps with records, errors
 * and latency from `metrics.json`, and the errors by step, by kind and the last few) and `sluice inspect-dag
 * <module:export>` (a chain's tree and Mermaid flowchart, without running it).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Chain from "../Chain.js"
import * as Runner from "../Runner.js"
import * as Engines from "./Engines.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"

/**
 * The `inspect` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Inspect from "sluice/cli/Inspect"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Inspect.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "inspect",
  { dir: Args.text({ name: "dir" }).pipe(Args.withDescription("a run folder (the -o of sluice run)")) },
  ({ dir }) =>
    Engines.requireFile(dir, "run folder").pipe(
      Effect.zipRight(Runner.inspect(dir)),
      Effect.flatMap((inspection) => Output.lines(inspectionLines(inspection)))
    )
).pipe(Command.withDescription("Summarise a run folder: counts, errors, metrics"))

/**
 * The `inspect-dag` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Inspect from "sluice/cli/Inspect"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Inspect.dagCommand]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const dagCommand = Command.make(
  "inspect-dag",
  {
    target: Args.text({ name: "module:export" }).pipe(
      Args.withDescription("the chain, e.g. examples/chains/products.ts:chain")
    ),
    format: Options.choice("format", ["both", "tree", "mermaid"]).pipe(
      Options.withDefault("both"),
      Options.withDescription("what to print: the tree, the Mermaid flowchart, or both")
    )
  },
  ({ format, target }) =>
    Effect.flatMap(Runner.loadChain(target), (chain) =>
      Output.write(
        format === "tree"
          ? Chain.toTree(chain)
          : format === "mermaid"
          ? Chain.toMermaid(chain)
          : `${Chain.toTree(chain)}\n${Chain.toMermaid(chain)}`
      ))
).pipe(Command.withDescription("Show a chain's steps as a tree and a Mermaid flowchart, without running it"))

/**
 * The lines `sluice inspect` prints for a run folder.
 *
 * @example
 * ```ts
 * import * as Inspect from "sluice/cli/Inspect"
 * import type * as Runner from "sluice/Runner"
 *
 * declare const inspection: Runner.Inspection
 * const lines = Inspect.inspectionLines(inspection)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const inspectionLines = (inspection: Runner.Inspection): ReadonlyArray<string> => {
  const count = Progress.formatCount
  const metrics = Option.getOrUndefined(decodeMetrics(inspection.metrics))
  const run = Option.getOrUndefined(decodeRun(inspection.graph))?.run
  const invocations = metrics?.invocations ?? []
  const status = inspection.status === "failure" ? "failed" : inspection.status ?? "unknown"
  const lines: Array<string> = [
    `run ${inspection.runId ?? "?"} of ${inspection.chain} in ${inspection.dir}: ${status}${
      inspection.cause === undefined ? "" : `: ${inspection.cause}`
    }`
  ]
  if (run !== undefined) {
    const when = [
      run.input === undefined ? undefined : `input ${run.input}`,
      run.startedAt === undefined ? undefined : `started ${run.startedAt}`,
      metrics?.durationMs === undefined ? undefined : `took ${Progress.formatDuration(metrics.durationMs)}`,
      invocations.length > 1 ? `over ${invocations.length} invocations` : undefined
    ].filter((part) => part !== undefined)
    if (when.length > 0) lines.push(`  ${when.join(", ")}`)
  }
  if (invocations.length > 1) lines.push(...invocations.map(invocationLine))
  const items = metrics?.items
  lines.push(
    `  items: ${
      [
        items?.total === undefined ? undefined : `${count(items.total)} in input`,
        `${count(inspection.flattened.records)} finished (flattened)`,
        items?.filtered === undefined || items.filtered === 0 ? undefined : `${count(items.filtered)} filtered`,
        `${count(inspection.errors.total)} ${inspection.errors.total === 1 ? "error" : "errors"}`,
        inspection.errors.resolved === 0 ? undefined : `${count(inspection.errors.resolved)} resolved`,
        items?.malformed === undefined || items.malformed === 0 ? undefined : `${count(items.malformed)} malformed`
      ].filter((part) => part !== undefined).join(", ")
    }`
  )
  lines.push("", ...stepTable(inspection, metrics).map((line) => `  ${line}`))
  if (inspection.errors.total > 0) lines.push("", ...errorLines(inspection))
  return lines
}

// =============================================================================
// internal
// =============================================================================

/** One invocation of a run resumed several times: when, how it ended, its figures. */
const invocationLine = (i: typeof Invocation.Type): string => {
  const count = Progress.formatCount
  const figures = [
    `${count(i.items?.done ?? 0)} done`,
    i.items?.resumed ? `${count(i.items.resumed)} resumed` : undefined,
    `${count(i.items?.failed ?? 0)} failed`
  ].filter((part) => part !== undefined).join(", ")
  return `    ${i.startedAt ?? "?"} ${i.status === "failure" ? "failed" : i.status ?? "?"}: ${figures} in ${
    Progress.formatDuration(i.durationMs ?? 0)
  }${i.cause === undefined ? "" : ` (${oneLine(i.cause)})`}`
}

/** The per-step table: records and files written, errors, retries, latency percentiles, tokens. */
const stepTable = (inspection: Runner.Inspection, metrics: typeof Metrics.Type | undefined): ReadonlyArray<string> => {
  const count = Progress.formatCount
  const ids = [...new Set([...Object.keys(inspection.steps), ...Object.keys(metrics?.steps ?? {})])]
  const rows = ids.map((id) => {
    const files = inspection.steps[id]
    const s = metrics?.steps?.[id]
    return [
      id,
      files === undefined ? "-" : count(files.records),
      files === undefined ? "-" : count(files.files),
      count(inspection.errors.byStep[id] ?? 0),
      s?.retries === undefined ? "-" : count(s.retries),
      s?.latencyMs === undefined ? "-" : Progress.formatDuration(s.latencyMs.p50),
      s?.latencyMs === undefined ? "-" : Progress.formatDuration(s.latencyMs.p95),
      s?.latencyMs === undefined ? "-" : Progress.formatDuration(s.latencyMs.p99),
      s?.tokens === undefined ? "-" : count(s.tokens.total)
    ]
  })
  return Output.table([["step", "records", "files", "errors", "retries", "p50", "p95", "p99", "tokens"], ...rows])
}

/** The error tallies by step and by kind, and the last errors. */
const errorLines = (inspection: Runner.Inspection): ReadonlyArray<string> => {
  const count = Progress.formatCount
  const tally = (byKey: Readonly<Record<string, number>>) =>
    Object.entries(byKey).sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} ${count(n)}`).join(", ")
  return [
    `  errors by step: ${tally(inspection.errors.byStep)}`,
    `  errors by kind: ${tally(inspection.errors.byError)}`,
    `  last errors:`,
    ...inspection.errors.last.map((e) =>
      `    #${e.index}${e._id === undefined || e._id === String(e.index) ? "" : ` (${e._id})`} ${e.step}: ${
        e.file === undefined ? "" : `${e.file}:${e.line ?? "?"}: `
      }${oneLine(e.message)}`
    )
  ]
}

const Latency = Schema.Struct({ p50: Schema.Number, p95: Schema.Number, p99: Schema.Number })

const Invocation = Schema.Struct({
  startedAt: Schema.optional(Schema.String),
  status: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.String),
  durationMs: Schema.optional(Schema.Number),
  items: Schema.optional(Schema.Struct({
    done: Schema.optional(Schema.Number),
    resumed: Schema.optional(Schema.Number),
    failed: Schema.optional(Schema.Number)
  }))
})

const Metrics = Schema.Struct({
  durationMs: Schema.optional(Schema.Number),
  invocations: Schema.optional(Schema.Array(Invocation)),
  items: Schema.optional(Schema.Struct({
    total: Schema.optional(Schema.Number),
    filtered: Schema.optional(Schema.Number),
    malformed: Schema.optional(Schema.Number)
  })),
  steps: Schema.optional(Schema.Record({
    key: Schema.String,
    value: Schema.Struct({
      retries: Schema.optional(Schema.Number),
      latencyMs: Schema.optional(Latency),
      tokens: Schema.optional(Schema.Struct({ total: Schema.Number }))
    })
  }))
})

const decodeMetrics = Schema.decodeUnknownOption(Metrics)

const decodeRun = Schema.decodeUnknownOption(Schema.Struct({
  run: Schema.optional(Schema.Struct({
    input: Schema.optional(Schema.String),
    startedAt: Schema.optional(Schema.String)
  }))
}))

const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 160 ? `${line.slice(0, 157)}...` : line
}
