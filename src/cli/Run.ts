/**
 * `sluice run <module:export> -i <input> -o <dir>`: runs a chain over a dataset with `Runner.run`, showing live
 * progress driven by the run's events:
 *
 * - on a terminal (stderr is a TTY): the chain's tree with one bar per step (done/total, rate, ETA, failed items),
 *   redrawn in place ten times a second and fitted to the terminal's width; other lines (the run's header, logs)
 *   print above it;
 * - otherwise: one plain progress line on stderr every 2 seconds and at the end;
 * - `--json-logs`: every event as one line of JSON on stdout (`Event.encodeJson`), the summary and logs on stderr;
 * - `--quiet`: nothing but the summary.
 *
 * The summary (items done, filtered, resumed, failed; a table of steps) goes to stdout. Without `--engines`, every
 * step runs on the built-in `dry-run` engine. Exit codes: see `CliError.exitCode`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Chain from "../Chain.js"
import type { DurableError } from "../DurableError.js"
import * as EngineRegistry from "../EngineRegistry.js"
import * as Event from "../Event.js"
import * as Runner from "../Runner.js"
import type { RunnerError } from "../RunnerError.js"
import { CliError } from "./CliError.js"
import * as Engines from "./Engines.js"
import * as Flags from "./Flags.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import * as RunLock from "./RunLock.js"
import * as Store from "./Store.js"
import * as Terminal from "./Terminal.js"

/**
 * How the run reports progress: a redrawn terminal frame, plain lines, JSON event lines, or nothing.
 *
 * @example
 * ```ts
 * import type * as Run from "sluice/cli/Run"
 *
 * const mode: Run.Mode = "plain"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "tty" | "plain" | "json" | "quiet"

/**
 * The `run` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Run from "sluice/cli/Run"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Run.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "run",
  {
    target: Args.text({ name: "module:export" }).pipe(
      Args.withDescription("the chain to run: a module path and its export, e.g. examples/chains/products.ts:chain")
    ),
    input: Options.text("input").pipe(
      Options.withAlias("i"),
      Options.withDescription("the input: JSONL, JSON array, CSV/TSV, Parquet, Arrow or a Hugging Face datasets folder")
    ),
    output: Options.text("output").pipe(
      Options.withAlias("o"),
      Options.withDescription("the run folder (running again into it resumes)")
    ),
    engines: Flags.engines,
    engine: Options.text("engine").pipe(
      Options.repeated,
      Options.withDescription("step=name: run a step on another engine of the engines file (repeatable)")
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.withAlias("c"),
      Options.optional,
      Options.withDescription("items in flight at once (default 16)")
    ),
    limit: Flags.optionalInteger("limit", "read at most this many rows"),
    columns: Flags.optionalText("columns", "comma-separated input columns to read"),
    key: Flags.optionalText("key", "the column holding each row's id (default: the row index)"),
    stopAfterFailures: Options.integer("stop-after-failures").pipe(
      Options.optional,
      Options.withDescription(
        "stop the run when this many items in a row fail with one run-wide cause (refused connection, refused key, " +
          "unknown model, missing key column; 5x as many for any other repeated failure). Default 10, 0 never stops"
      )
    ),
    parquet: Options.boolean("parquet").pipe(Options.withDescription("also write Parquet copies of the outputs")),
    csv: Options.boolean("csv").pipe(Options.withDescription("also write CSV copies of the outputs")),
    split: Options.text("split").pipe(
      Options.optional,
      Options.withDescription("the split of a Hugging Face datasets folder (default: train when there is one)")
    ),
    strict: Options.boolean("strict").pipe(Options.withDescription("stop at the first malformed input row")),
    quiet: Options.boolean("quiet").pipe(
      Options.withAlias("q"),
      Options.withDescription("print nothing but the summary")
    ),
    jsonLogs: Options.boolean("json-logs").pipe(
      Options.withDescription("print every event as a line of JSON on stdout (the summary goes to stderr)")
    ),
    store: Options.text("store").pipe(
      Options.optional,
      Options.withDescription(
        "run durably on a store: a SQLite file (this process runs it) or a PostgreSQL URL (runner processes run it)"
      )
    ),
    chunkSize: Options.integer("chunk-size").pipe(
      Options.optional,
      Options.withDescription("with --store: rows per chunk (default 1000)")
    )
  },
  (args) =>
    Effect.gen(function*() {
      const engines = Option.getOrUndefined(args.engines)
      const overrides = yield* parseOverrides(args.engine)
      const concurrency = yield* positive("--concurrency", Option.getOrUndefined(args.concurrency), 1)
      const limit = yield* positive("--limit", Option.getOrUndefined(args.limit), 0)
      const stopAfterFailures = yield* positive(
        "--stop-after-failures",
        Option.getOrUndefined(args.stopAfterFailures),
        0
      )
      const columns = Option.map(args.columns, (text) => text.split(",").map((c) => c.trim()).filter((c) => c !== ""))
      yield* Engines.requireFile(args.input, "input")
      const chain = yield* Runner.loadChain(args.target)
      const mode: Mode = args.quiet ? "quiet" : args.jsonLogs ? "json" : process.stderr.isTTY ? "tty" : "plain"
      return yield* Effect.gen(function*() {
        const registry = yield* EngineRegistry.EngineRegistry
        yield* checkOverrides(chain, overrides, registry.engines, engines)
        const store = Option.getOrUndefined(args.store)
        const chunkSize = Option.getOrUndefined(args.chunkSize)
        const execute = store === undefined
          ? undefined
          : (c: Chain.Chain, o: Runner.Options) => Store.run(store, c, { ...o, chunkSize })
        if (store === undefined) yield* RunLock.acquire(args.output, args.target)
        const summary = yield* runWithProgress(chain, mode, {
          input: args.input,
          output: args.output,
          engines: Object.keys(overrides).length === 0 ? undefined : overrides,
          concurrency,
          limit,
          columns: Option.getOrUndefined(columns),
          key: Option.getOrUndefined(args.key),
          strict: args.strict,
          parquet: args.parquet,
          csv: args.csv,
          split: Option.getOrUndefined(args.split),
          stopAfterFailures
        }, execute)
        // like Chainette's end-of-run flush: the engines go now, not after their idle time-to-live
        yield* registry.flush({ force: true })
        const report = summaryLines(summary, { width: Output.width(mode === "json" ? process.stderr : process.stdout) })
        yield* mode === "json" ? Output.errLines(report) : Output.lines(report)
        if (summary.failed > 0) {
          return yield* new CliError({
            reason: "ItemsFailed",
            failed: summary.failed,
            description: `${summary.failed} ${summary.failed === 1 ? "item" : "items"} failed: see ${
              joinPath(summary.output, "errors")
            } (running again retries them)`
          })
        }
      }).pipe(Effect.scoped, Effect.provide(Engines.layer(engines)))
    })
).pipe(Command.withDescription("Run a chain over a dataset into a run folder (resumes when run again)"))

/** The line a run starts with: its id, chain and output, the items and what resuming skips or re-runs. */
const planHeader = (plan: Runner.Plan): string => {
  const about = [
    plan.total === undefined ? undefined : `${Progress.formatCount(plan.total)} items`,
    plan.resumed > 0 ? `${Progress.formatCount(plan.resumed)} already done` : undefined,
    plan.invalidated.length > 0 ? `re-running ${plan.invalidated.join(", ")} (changed)` : undefined
  ].filter((part) => part !== undefined)
  return `run ${plan.runId}: ${plan.chain} → ${plan.output}${about.length === 0 ? "" : ` (${about.join(", ")})`}`
}

/**
 * Runs a chain with `Runner.run`, reporting progress in the given mode (see the module description), and returns
 * the run's summary. On interruption the display shows the last state and a line tells how to resume.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 * import * as Run from "sluice/cli/Run"
 *
 * declare const chain: Chain.Chain
 * const summary = Run.runWithProgress(chain, "plain", { input: "data.jsonl", output: "out" })
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const runWithProgress = Effect.fnUntraced(function*(
  chain: Chain.Chain,
  mode: Mode,
  options: Omit<Runner.Options, "onStart" | "onEvent">,
  execute?: (
    chain: Chain.Chain,
    options: Runner.Options
  ) => Effect.Effect<Runner.Summary, RunnerError | DurableError, FileSystem.FileSystem>
) {
  let state = Progress.make({ name: chain.name, rows: Progress.layout(treeOf(chain)) })
  let pending: Array<Event.Event> = []
  let jsonLines: Array<string> = []
  const fold = () => {
    if (pending.length > 0) {
      state = Progress.updateAll(state, pending)
      pending = []
    }
  }
  const flushJson = Effect.suspend(() => {
    if (jsonLines.length === 0) return Effect.void
    const text = jsonLines.join("\n") + "\n"
    jsonLines = []
    return Output.write(text)
  })
  const color = Output.color(process.stderr)
  const draw = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.suspend(() => {
      fold()
      if (mode === "tty") {
        return Output.drawLive(Progress.frame(state, { now, width: Output.width(process.stderr), color }))
      }
      return mode === "plain" ? Output.errLines([Progress.line(state, { now })]) : Effect.void
    }))
  const onEvent = mode === "quiet"
    ? undefined
    : mode === "json"
    ? (event: Event.Event) =>
      Effect.flatMap(Effect.orDie(Event.encodeJson(event)), (line) =>
        Effect.suspend(() => {
          jsonLines.push(line)
          return jsonLines.length >= 512 ? flushJson : Effect.void
        }))
    : (event: Event.Event) =>
      Effect.sync(() => {
        pending.push(event)
        if (pending.length >= 4096) fold()
      })
  const onStart = (plan: Runner.Plan) =>
    Effect.suspend(() => {
      state = Progress.withTotal(state, plan.total === undefined ? undefined : Math.max(0, plan.total - plan.resumed))
      return mode === "tty" || mode === "plain" ? Output.errLines([planHeader(plan)]) : Effect.void
    })
  const ticker = mode === "tty" || mode === "plain"
    ? yield* Effect.forkScoped(
      Effect.repeat(draw, Schedule.spaced(mode === "tty" ? "100 millis" : "2 seconds")).pipe(Effect.delay(
        mode === "tty" ? "100 millis" : "2 seconds"
      ))
    )
    : undefined
  if (mode === "tty") yield* Effect.acquireRelease(Output.startLive, () => Output.endLive)
  const finish = Effect.gen(function*() {
    if (ticker !== undefined) yield* Fiber.interrupt(ticker)
    yield* flushJson
    if (mode === "tty" || mode === "plain") yield* draw
    if (mode === "tty") yield* Output.endLive
  })
  return yield* (execute ?? Runner.run)(chain, { ...options, onStart, ...(onEvent === undefined ? {} : { onEvent }) })
    .pipe(
      Effect.onExit((exit) =>
        Effect.suspend(() => {
          if (Exit.isInterrupted(exit)) {
            fold()
            state = { ...state, status: "interrupted" }
          }
          return finish
        })
      ),
      Effect.onInterrupt(() =>
        Output.errLines(["interrupted: the files written are complete; run the same command again to resume"])
      )
    )
})

/**
 * The summary of a run, as printed at the end of `sluice run`: a line with the counts and duration, then a table
 * of the steps (done, filtered, errors, retries, p50/p95 latency, tokens). Given a `width` (a terminal's), lines
 * fit it: long lines wrap at spaces, and the table drops columns (filtered, retries, p95, tokens, p50, in that
 * order) until it fits.
 *
 * @example
 * ```ts
 * import * as Run from "sluice/cli/Run"
 * import type * as Runner from "sluice/Runner"
 *
 * declare const summary: Runner.Summary
 * const lines = Run.summaryLines(summary)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const summaryLines = (
  summary: Runner.Summary,
  options?: { readonly width?: number | undefined } | undefined
): ReadonlyArray<string> => {
  const width = options?.width ?? Infinity
  const count = Progress.formatCount
  const malformed = summary.malformed === 0
    ? ""
    : ` (${count(summary.malformed)} malformed ${summary.malformed === 1 ? "row" : "rows"})`
  const counts = [
    `${count(summary.done)} done`,
    summary.filtered > 0 ? `${count(summary.filtered)} filtered` : undefined,
    summary.resumed > 0 ? `${count(summary.resumed)} resumed` : undefined,
    `${count(summary.failed)} failed${malformed}`
  ].filter((part) => part !== undefined).join(", ")
  const status = summary.status === "success" ? "" : ` [${summary.status}]`
  const rows = Object.entries(summary.steps).map(([id, s]) => [
    id,
    count(s.done),
    count(s.filtered),
    count(s.errors),
    count(s.retries),
    Progress.formatDuration(s.latencyMs.p50),
    Progress.formatDuration(s.latencyMs.p95),
    count(s.tokens.total)
  ])
  const total = summary.cumulative
  const overall = total.invocations > 1
    ? [
      `  in total over ${total.invocations} runs: ${count(total.done)} done, ${
        total.filtered > 0 ? `${count(total.filtered)} filtered, ` : ""
      }${count(total.failed)} failed${total.resolved > 0 ? ` (${count(total.resolved)} resolved)` : ""} in ${
        Progress.formatDuration(total.durationMs)
      }`
    ]
    : []
  const header = [
    `${summary.chain}: ${counts} in ${Progress.formatDuration(summary.durationMs)} → ${summary.output}${status}`,
    ...overall
  ]
  const table = Terminal.table([["step", "done", "filtered", "errors", "retries", "p50", "p95", "tokens"], ...rows], {
    width: width - 3,
    drop: [2, 4, 6, 7, 5]
  })
  return [
    ...(width === Infinity ? header : header.flatMap((line) => Terminal.wrap(line, width - 1))),
    ...table.map((line) => `  ${line}`)
  ]
}

/**
 * The chain's steps as a progress tree: its steps in order, each list of parallel branches under a `parallel` node,
 * each branch (with its join alias) holding its steps.
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 * import * as Run from "sluice/cli/Run"
 *
 * declare const chain: Chain.Chain
 * const tree = Run.treeOf(chain)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const treeOf = (chain: Chain.Chain): ReadonlyArray<Progress.TreeNode> => {
  const line = (steps: ReadonlyArray<Chain.Step>): Array<Progress.TreeNode> =>
    steps.map((step): Progress.TreeNode =>
      isParallel(step)
        ? {
          label: "parallel",
          children: step.map((branch) => ({
            label: branch.alias === undefined ? branch.name : `${branch.name} ⇒ {{${branch.alias}}}`,
            children: line(branch.steps)
          }))
        }
        : { key: step.id, label: step.id }
    )
  return line(chain.steps)
}

// =============================================================================
// internal
// =============================================================================

const isParallel = (step: Chain.Step): step is ReadonlyArray<Chain.Branch> => Array.isArray(step)

const joinPath = (dir: string, name: string): string => dir.endsWith("/") ? `${dir}${name}/` : `${dir}/${name}/`

const parseOverrides = (entries: ReadonlyArray<string>): Effect.Effect<Record<string, string>, CliError> =>
  Effect.suspend(() => {
    const overrides: Record<string, string> = {}
    for (const entry of entries) {
      const eq = entry.indexOf("=")
      const step = entry.slice(0, eq).trim()
      const name = entry.slice(eq + 1).trim()
      if (eq <= 0 || step === "" || name === "") {
        return Effect.fail(
          new CliError({ reason: "Usage", description: `--engine expects step=name, got ${JSON.stringify(entry)}` })
        )
      }
      overrides[step] = name
    }
    return Effect.succeed(overrides)
  })

const positive = (
  flag: string,
  value: number | undefined,
  min: number
): Effect.Effect<number | undefined, CliError> =>
  value === undefined || value >= min
    ? Effect.succeed(value)
    : Effect.fail(new CliError({ reason: "Usage", description: `${flag} must be at least ${min}, got ${value}` }))

const checkOverrides = (
  chain: Chain.Chain,
  overrides: Readonly<Record<string, string>>,
  engineNames: ReadonlyArray<string>,
  file: string | undefined
): Effect.Effect<void, CliError> =>
  Effect.suspend(() => {
    const ids = Chain.flatSteps(chain).map((step) => step.id)
    for (const [step, name] of Object.entries(overrides)) {
      if (!ids.includes(step)) {
        return Effect.fail(
          new CliError({
            reason: "Usage",
            description: `--engine ${step}=${name}: the chain ${chain.name} has no step "${step}" (steps: ${
              ids.join(", ")
            })`
          })
        )
      }
      if (!engineNames.includes(name)) {
        return Effect.fail(
          new CliError({
            reason: "Usage",
            ...(file === undefined ? {} : { path: file }),
            description: `--engine ${step}=${name}: no engine "${name}" (engines: ${engineNames.join(", ")})`
          })
        )
      }
    }
    return Effect.void
  })
