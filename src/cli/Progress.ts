/**
 * The progress display of `sluice run`, as pure functions: a state folded over the run's events ({@link update}) and
 * renderers of that state: a redrawn frame for a terminal ({@link frame}: a DAG tree with one bar per step showing
 * done/total, rate, ETA and errors), a plain line for logs ({@link line}), and the ANSI text that replaces the
 * previous frame ({@link redraw}). Nothing here writes or reads a clock: the CLI passes `now` in.
 *
 * @since 0.1.0
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type * as Event from "../Event.js"
import * as Terminal from "./Terminal.js"

// =============================================================================
// models
// =============================================================================

/**
 * A node of the step tree the display draws: a step (with the `key` its events are counted under) or a group of
 * steps (branches, without a key).
 *
 * @example
 * ```ts
 * import type * as Progress from "sluice/cli/Progress"
 *
 * const tree: ReadonlyArray<Progress.TreeNode> = [
 *   { key: "extract", label: "extract" },
 *   { label: "translate", children: [{ key: "fr", label: "fr" }, { key: "de", label: "de" }] }
 * ]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeNode {
  readonly key?: string | undefined
  readonly label: string
  readonly children?: ReadonlyArray<TreeNode> | undefined
}

/**
 * One line of the tree: its drawing `prefix` (`├── `, `│   └── `, …), its `label`, and the `key` of the step it
 * shows (absent on a group's line).
 *
 * @example
 * ```ts
 * import type * as Progress from "sluice/cli/Progress"
 *
 * const row: Progress.Row = { key: "extract", label: "extract", prefix: "├── " }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly key: string | undefined
  readonly label: string
  readonly prefix: string
}

/**
 * The counters of one step: items `started` and `done`, its `errors` (`StepError` events: the items it ended with
 * an error), the items `failed` at this step as the run's error records count them (an item failing in two
 * parallel branches is one failed item, counted under the branch whose error is recorded: the later one),
 * `retries`, and the timestamps of its first and latest events (epoch milliseconds, from the events).
 *
 * @example
 * ```ts
 * import type * as Progress from "sluice/cli/Progress"
 *
 * const step: Progress.StepState = {
 *   started: 3,
 *   done: 2,
 *   errors: 1,
 *   failed: 1,
 *   retries: 1,
 *   firstAt: 0,
 *   lastAt: 900
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StepState {
  readonly started: number
  readonly done: number
  readonly errors: number
  readonly failed: number
  readonly retries: number
  readonly firstAt: number | undefined
  readonly lastAt: number | undefined
}

/**
 * The display's state: the run (`name`, `runId`, `status`, start and end times), the expected number of items per
 * step (`total`, when known), the tree `rows`, one {@link StepState} per step key, the malformed input rows seen
 * (`malformed`, with the latest message in `lastError`) and the failed items (`failedItems`: item index → the step
 * its error record names).
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const state: Progress.State = Progress.make({ name: "products", total: 100 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly name: string
  readonly runId: string | undefined
  readonly status: "pending" | "running" | "success" | "failure" | "interrupted"
  readonly startedAt: number | undefined
  readonly endedAt: number | undefined
  readonly total: number | undefined
  readonly rows: ReadonlyArray<Row>
  readonly steps: Readonly<Record<string, StepState>>
  readonly malformed: number
  readonly lastError: string | undefined
  readonly failedItems: HashMap.HashMap<number, string>
}

/**
 * Options of the renderers: the current time `now` (epoch milliseconds), the terminal `width` in columns (default
 * 100) and whether to `color` the bars and error counts with ANSI codes (default `false`).
 *
 * @example
 * ```ts
 * import type * as Progress from "sluice/cli/Progress"
 *
 * const options: Progress.RenderOptions = { now: 1_700_000_000_000, width: 120, color: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RenderOptions {
  readonly now: number
  readonly width?: number | undefined
  readonly color?: boolean | undefined
}

// =============================================================================
// constructors
// =============================================================================

/**
 * Draws a step tree as rows (see {@link TreeNode}); a chain's steps are the tree's top level.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const rows = Progress.layout([{ key: "a", label: "a" }, { key: "b", label: "b" }])
 * // [{ key: "a", label: "a", prefix: "├── " }, { key: "b", label: "b", prefix: "└── " }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const layout = (nodes: ReadonlyArray<TreeNode>): ReadonlyArray<Row> => {
  const rows: Array<Row> = []
  const walk = (level: ReadonlyArray<TreeNode>, indent: string) => {
    level.forEach((node, i) => {
      const last = i === level.length - 1
      rows.push({ key: node.key, label: node.label, prefix: indent + (last ? "└── " : "├── ") })
      if (node.children !== undefined) walk(node.children, indent + (last ? "    " : "│   "))
    })
  }
  walk(nodes, "")
  return rows
}

/**
 * The state before any event: the run's `name`, its tree `rows` (see {@link layout}; steps not in the tree are
 * added at the end as their events arrive) and the number of items each step expects (`total`, when known).
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const state = Progress.make({
 *   name: "products",
 *   rows: Progress.layout([{ key: "extract", label: "extract" }]),
 *   total: 1000
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly name: string
  readonly rows?: ReadonlyArray<Row> | undefined
  readonly total?: number | undefined
}): State => {
  const rows = options.rows ?? []
  const steps: Record<string, StepState> = {}
  for (const row of rows) if (row.key !== undefined) steps[row.key] = emptyStep
  return {
    name: options.name,
    runId: undefined,
    status: "pending",
    startedAt: undefined,
    endedAt: undefined,
    total: options.total,
    rows,
    steps,
    malformed: 0,
    lastError: undefined,
    failedItems: HashMap.empty()
  }
}

// =============================================================================
// combinators
// =============================================================================

/**
 * The key a step's events are counted under: the event's path without the run's own name (its first segment),
 * joined with `/` (e.g. `["products", "extract"]` → `"extract"`, `["products", "fr", "translate"]` →
 * `"fr/translate"`); `undefined` for the run's own events.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * Progress.keyOf(["products", "extract"]) // "extract"
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const keyOf = (path: ReadonlyArray<string>): string | undefined =>
  path.length < 2 ? undefined : path.length === 2 ? path[1] : path.slice(1).join("/")

/**
 * Sets the number of items each step expects (e.g. once `Dataset.count` has answered).
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const state = Progress.withTotal(Progress.make({ name: "products" }), 1000)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTotal = (self: State, total: number | undefined): State => ({ ...self, total })

/**
 * Folds one event into the state: `RunStart`/`RunEnd` set the run's status and times, `StepStart`, `StepEnd`,
 * `StepError` and `Retry` count per step (see {@link keyOf}), `NonFatalError` counts a malformed input row. Other
 * events (tokens, partial fields, …) leave the state as it is.
 *
 * @example
 * ```ts
 * import * as Event from "sluice/Event"
 * import * as Progress from "sluice/cli/Progress"
 *
 * const origin = { runId: "r1", path: ["products", "extract"], timestamp: 10 }
 * const state = Progress.update(
 *   Progress.make({ name: "products" }),
 *   Event.make("StepEnd", origin, { durationMs: 5, item: 0 })
 * )
 * state.steps["extract"]?.done // 1
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const update = (self: State, event: Event.Event): State => updateAll(self, [event])

/**
 * Folds many events into the state, as {@link update} does one by one, copying the state once (the CLI folds each
 * chunk of a run's events at once).
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const state = Progress.updateAll(Progress.make({ name: "products" }), [])
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const updateAll = (self: State, events: Iterable<Event.Event>): State => {
  const acc: Mutable = {
    ...self,
    rows: self.rows,
    steps: self.steps,
    copied: new Set()
  }
  for (const event of events) apply(acc, event)
  const { copied: _, ...state } = acc
  return state
}

// =============================================================================
// rendering
// =============================================================================

/**
 * The terminal frame: a header line (run name, status, elapsed time, run id, malformed rows), then the step tree
 * with one bar per step: `done+failed/total`, percentage, rate, ETA and errors. Lines are cut to `width - 1`
 * columns so that a redraw never wraps. Without a known total a step shows its counts and rate only.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const lines = Progress.frame(Progress.make({ name: "products", total: 10 }), { now: 0, width: 80 })
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const frame = (self: State, options: RenderOptions): ReadonlyArray<string> => {
  const max = Math.max(40, options.width ?? 100) - 1
  const color = options.color === true
  const rows = allRows(self)
  const cells = rows.map((row) => cellsOf(self, row, options.now, color))
  const labelWidth = Math.max(
    ...rows.map((row, i) => cells[i] === undefined ? 0 : Terminal.columns(row.prefix + row.label)),
    4
  )
  const totalText = self.total === undefined ? undefined : formatCount(self.total)
  const countWidth = totalText === undefined
    ? Math.max(1, ...cells.map((c) => c?.count.length ?? 0))
    : totalText.length * 2 + 1
  const errorsWidth = Math.max(0, ...cells.map((c) => (c === undefined ? 0 : Terminal.columns(c.errors))))
  const known = self.total !== undefined
  // the columns that fit, the least useful going first: ETA, then the bar, the percentage, the rate
  const show = { eta: known, bar: known, percent: known, rate: true }
  const fixed = () =>
    labelWidth + 2 + countWidth + (show.percent ? 7 : 0) + (show.rate ? 11 : 0) + (show.eta ? 12 : 0) +
    (errorsWidth > 0 ? errorsWidth + 2 : 0)
  const barRoom = () => max - fixed() - 2
  if (show.eta && barRoom() < 10) show.eta = false
  if (show.bar && barRoom() < 6) show.bar = false
  if (show.percent && fixed() > max) show.percent = false
  if (show.rate && fixed() > max) show.rate = false
  const barWidth = show.bar ? Math.min(40, barRoom()) : 0
  // names give way last: cut to leave room for the counts and errors
  const nameWidth = Math.max(8, Math.min(labelWidth, max - (fixed() - labelWidth)))
  const lines = [Terminal.cut(headerText(self, options.now), max)]
  rows.forEach((row, i) => {
    const c = cells[i]
    const name = Terminal.cut(`${row.prefix}${row.label}`, c === undefined ? max : nameWidth)
    if (c === undefined) {
      lines.push(name)
      return
    }
    const parts = [
      name + " ".repeat(Math.max(0, nameWidth - Terminal.columns(name))),
      show.bar ? bar(c.processed / Math.max(1, self.total ?? 1), barWidth, color) : undefined,
      totalText === undefined ? c.count.padStart(countWidth) : `${c.count.padStart(totalText.length)}/${totalText}`,
      show.percent ? `${percent(c.processed, self.total ?? 0)}`.padStart(5) : undefined,
      show.rate ? c.rate.padStart(9) : undefined,
      show.eta ? c.eta.padEnd(10) : undefined,
      c.errors === "" ? undefined : c.errors
    ].filter((part) => part !== undefined)
    lines.push(Terminal.cut(parts.join("  ").trimEnd(), max))
  })
  return lines
}

/**
 * One plain line for logs (not a terminal): elapsed time, the run's name, then per step `done+failed/total`,
 * percentage, rate and errors, and the malformed rows seen.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * Progress.line(Progress.make({ name: "products", total: 10 }), { now: 0 })
 * // "[00:00] products pending"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const line = (self: State, options: RenderOptions): string => {
  const parts: Array<string> = []
  for (const row of allRows(self)) {
    const stats = row.key === undefined ? undefined : self.steps[row.key]
    if (row.key === undefined || stats === undefined) continue
    const processed = stats.done + stats.errors
    const rate = rateOf(self, stats, options.now)
    const eta = etaOf(self, stats, rate)
    const count = self.total === undefined
      ? formatCount(processed)
      : `${formatCount(processed)}/${formatCount(self.total)} ${percent(processed, self.total)}`
    const extras = [
      rate === undefined ? undefined : `${formatRate(rate)}/s`,
      eta === undefined ? undefined : `ETA ${formatEta(eta)}`,
      stats.failed > 0 ? `${formatCount(stats.failed)} failed` : undefined,
      stats.retries > 0 ? `${formatCount(stats.retries)} retried` : undefined
    ].filter((part) => part !== undefined)
    parts.push([row.key, count, ...extras].join(" "))
  }
  const status = self.status === "running" ? "" : ` ${self.status}`
  const malformed = self.malformed > 0 ? ` | ${formatCount(self.malformed)} malformed` : ""
  const body = parts.length === 0 ? "" : ` ${parts.join(" | ")}`
  return `[${formatClock(elapsedOf(self, options.now))}] ${self.name}${status}${body}${malformed}`
}

/**
 * The ANSI text that replaces a frame of `previous` lines (already printed, the cursor below them) by `lines`:
 * move up, clear to the end of the screen, print. With `previous = 0` it just prints.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * const text = Progress.redraw(2, ["a", "b", "c"]) // "\x1b[2F\x1b[0Ja\nb\nc\n"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const redraw = (previous: number, lines: ReadonlyArray<string>): string =>
  (previous > 0 ? `\x1b[${previous}F\x1b[0J` : "") + (lines.length === 0 ? "" : lines.join("\n") + "\n")

/**
 * A duration for people: `850ms`, `12s`, `4m05s`, `2h03m`.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * Progress.formatDuration(245_000) // "4m05s"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms)) return "?"
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const seconds = Math.round(ms / 1000)
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad2(seconds % 60)}s`
  const minutes = Math.round(seconds / 60)
  return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`
}

/**
 * An integer with thousands separators (`1,234,567`), independent of the locale.
 *
 * @example
 * ```ts
 * import * as Progress from "sluice/cli/Progress"
 *
 * Progress.formatCount(1234567) // "1,234,567"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatCount = (n: number): string => {
  const sign = n < 0 ? "-" : ""
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",")
}

// =============================================================================
// internal
// =============================================================================

const emptyStep: StepState = {
  started: 0,
  done: 0,
  errors: 0,
  failed: 0,
  retries: 0,
  firstAt: undefined,
  lastAt: undefined
}

type Mutable = { -readonly [K in keyof State]: State[K] } & {
  steps: Readonly<Record<string, StepState>>
  readonly copied: Set<string>
}

type MutableStep = { -readonly [K in keyof StepState]: StepState[K] }

const apply = (acc: Mutable, event: Event.Event): void => {
  switch (event._tag) {
    case "RunStart": {
      if (event.path.length > 1) return
      acc.runId = event.runId
      acc.status = "running"
      acc.startedAt = acc.startedAt ?? event.timestamp
      return
    }
    case "RunEnd": {
      if (event.path.length > 1) return
      acc.status = event.status
      acc.endedAt = event.timestamp
      return
    }
    case "StepStart": {
      const s = stepOf(acc, event)
      if (s !== undefined) s.started++
      return
    }
    case "StepEnd": {
      const s = stepOf(acc, event)
      if (s !== undefined) s.done++
      return
    }
    case "StepError": {
      const s = stepOf(acc, event)
      if (s === undefined) return
      s.errors++
      if (event.item === undefined) {
        s.failed++
        return
      }
      // one failed item per error record: the item's later error replaces its earlier one
      const key = keyOf(event.path)!
      const previous = HashMap.get(acc.failedItems, event.item)
      if (Option.isSome(previous) && previous.value === key) return
      if (Option.isSome(previous)) touch(acc, previous.value).failed--
      s.failed++
      acc.failedItems = HashMap.set(acc.failedItems, event.item, key)
      return
    }
    case "Retry": {
      const s = stepOf(acc, event)
      if (s !== undefined) s.retries++
      return
    }
    case "NonFatalError": {
      acc.malformed++
      acc.lastError = event.message
      return
    }
    default:
      return
  }
}

const stepOf = (acc: Mutable, event: Event.Event): MutableStep | undefined => {
  const key = keyOf(event.path)
  if (key === undefined) return undefined
  const s = touch(acc, key)
  s.firstAt = s.firstAt === undefined ? event.timestamp : Math.min(s.firstAt, event.timestamp)
  s.lastAt = s.lastAt === undefined ? event.timestamp : Math.max(s.lastAt, event.timestamp)
  return s
}

// The step's counters, copied on first touch within one fold so that the input state is never mutated.
const touch = (acc: Mutable, key: string): MutableStep => {
  if (acc.copied.size === 0) acc.steps = { ...acc.steps }
  let s = acc.steps[key] as MutableStep | undefined
  if (s === undefined || !acc.copied.has(key)) {
    if (s === undefined && !acc.rows.some((row) => row.key === key)) {
      acc.rows = [...acc.rows, { key, label: key, prefix: "" }]
    }
    s = { ...(s ?? emptyStep) }
    ;(acc.steps as Record<string, StepState>)[key] = s
    acc.copied.add(key)
  }
  return s
}

const allRows = (self: State): ReadonlyArray<Row> => {
  const drawn = self.rows.some((row) => row.prefix !== "")
  if (!drawn) return self.rows.map((row) => ({ ...row, prefix: "" }))
  return self.rows.map((row) => row.prefix === "" ? { ...row, prefix: "+ " } : row)
}

interface Cells {
  readonly processed: number
  readonly count: string
  readonly rate: string
  readonly eta: string
  readonly errors: string
}

const cellsOf = (self: State, row: Row, now: number, color: boolean): Cells | undefined => {
  const stats = row.key === undefined ? undefined : self.steps[row.key]
  if (stats === undefined) return undefined
  const processed = stats.done + stats.errors
  const rate = rateOf(self, stats, now)
  const eta = etaOf(self, stats, rate)
  return {
    processed,
    count: formatCount(processed),
    rate: rate === undefined ? "" : `${formatRate(rate)}/s`,
    eta: eta === undefined ? "" : `ETA ${formatEta(eta)}`,
    errors: errorsText(stats, color)
  }
}

const endOf = (self: State, now: number): number => self.endedAt ?? now

const elapsedOf = (self: State, now: number): number =>
  self.startedAt === undefined ? 0 : Math.max(0, endOf(self, now) - self.startedAt)

const rateOf = (self: State, stats: StepState, now: number): number | undefined => {
  if (stats.firstAt === undefined) return undefined
  const end = self.status === "running" || self.status === "pending" ? now : stats.lastAt ?? now
  const seconds = (end - stats.firstAt) / 1000
  if (seconds < 0.2) return undefined
  return (stats.done + stats.errors) / seconds
}

const etaOf = (self: State, stats: StepState, rate: number | undefined): number | undefined => {
  if (self.total === undefined || rate === undefined || rate <= 0) return undefined
  if (self.status !== "running") return undefined
  const remaining = self.total - stats.done - stats.errors
  return remaining <= 0 ? undefined : (remaining / rate) * 1000
}

const headerText = (self: State, now: number): string => {
  const status = self.status === "pending"
    ? "starting"
    : self.status === "running"
    ? "running"
    : self.status === "success"
    ? "done"
    : self.status
  const run = self.runId === undefined ? "" : `  run ${self.runId.slice(0, 8)}`
  const failed = Object.values(self.steps).reduce((sum, s) => sum + s.failed, 0)
  const malformed = self.malformed === 0
    ? ""
    : `  ${formatCount(self.malformed)} malformed ${self.malformed === 1 ? "row" : "rows"}`
  const items = failed === 0 ? "" : `  ${formatCount(failed)} failed ${failed === 1 ? "item" : "items"}`
  return `${self.name}  ${status} ${formatClock(elapsedOf(self, now))}${items}${malformed}${run}`
}

const errorsText = (stats: StepState, color: boolean): string => {
  const parts: Array<string> = []
  if (stats.failed > 0) parts.push(paint(`${formatCount(stats.failed)} failed`, "31", color))
  if (stats.retries > 0) parts.push(`${formatCount(stats.retries)} retried`)
  return parts.join(" ")
}

const bar = (fraction: number, width: number, color: boolean): string => {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const filled = Math.round(clamped * width)
  return paint("█".repeat(filled), "32", color) + paint("░".repeat(width - filled), "2", color)
}

const percent = (n: number, total: number): string =>
  `${total <= 0 ? 100 : Math.min(100, Math.floor((n / total) * 100))}%`

const formatRate = (rate: number): string =>
  rate >= 100 ? formatCount(rate) : rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)

const formatClock = (ms: number): string => {
  const seconds = Math.floor(ms / 1000)
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${pad2(m)}:${pad2(s)}`
}

const formatEta = (ms: number): string => ms < 1000 ? "<1s" : formatDuration(ms)

const pad2 = (n: number): string => String(n).padStart(2, "0")

const paint = (text: string, code: string, color: boolean): string =>
  color && text !== "" ? `\x1b[${code}m${text}\x1b[0m` : text
