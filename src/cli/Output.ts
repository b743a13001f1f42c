/**
 * Where the CLI writes: `stdout` for results (summaries, reports, `--json-logs` events), `stderr` for progress,
 * logs and errors. Nothing written to a stream that is not a terminal carries ANSI codes, and `NO_COLOR` (or
 * `TERM=dumb`) drops colours: {@link console} applies this to everything `@effect/cli` and Effect's `Console` print,
 * {@link logger} sends Effect's logs to stderr (never into stdout's JSON lines). While a live area is on (see
 * {@link startLive}), lines for stderr are printed above it.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Console from "effect/Console"
import { TypeId as ConsoleTypeId } from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { Console as NodeConsole } from "node:console"
import { Writable } from "node:stream"
import * as Terminal from "./Terminal.js"

/**
 * Whether a stream takes colours: it is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const color = Output.color(process.stderr)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const color = (stream: { readonly isTTY?: boolean | undefined }): boolean => stream.isTTY === true && !noColor()

/**
 * Removes ANSI codes from text meant for a stream: all of them when it is not a terminal, colours when `NO_COLOR`
 * (or `TERM=dumb`) is set.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * Output.plain("\x1b[1mUSAGE\x1b[0m", { isTTY: false }) // "USAGE"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const plain = (text: string, stream: { readonly isTTY?: boolean | undefined }): string =>
  stream.isTTY !== true ? text.replace(allEscapes, "") : noColor() ? text.replace(sgr, "") : text

/**
 * Writes text to stdout as is.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.write("42\n")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const write = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stdout.write(text))

/**
 * Writes lines to stdout.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.lines(["a", "b"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const lines = (lines: ReadonlyArray<string>): Effect.Effect<void> =>
  lines.length === 0 ? Effect.void : write(lines.join("\n") + "\n")

/**
 * Writes text to stderr as is.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.writeErr("\x1b[?25l")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeErr = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stderr.write(text))

/**
 * Writes lines to stderr.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.errLines(["sluice: data.jsonl: input not found"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const errLines = (lines: ReadonlyArray<string>): Effect.Effect<void> =>
  lines.length === 0 ? Effect.void : Effect.sync(() => unsafeErrLines(lines))

/**
 * Lays out rows as a table: columns padded to their widest cell, two spaces apart, numbers (cells matching a
 * number, a duration or a percentage, or `-`) aligned right (see `Terminal.table` to fit a width).
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * Output.table([["step", "done"], ["extract", "1,000"]])
 * // ["step      done", "extract  1,000"]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => Terminal.table(rows)

/**
 * The width of a stream for text: its columns when it is a terminal (else `COLUMNS`, else 100), `Infinity` when it
 * is not a terminal (a file or a pipe: nothing is cut).
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const width = Output.width(process.stdout)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const width = (
  stream: { readonly isTTY?: boolean | undefined; readonly columns?: number | undefined }
): number => stream.isTTY !== true ? Infinity : stream.columns || Number(process.env.COLUMNS) || 100

/**
 * Starts the live area on stderr (a terminal): from now on {@link drawLive} redraws its frame in place and
 * {@link errLines} (and the {@link logger}) print above it; {@link endLive} leaves the last frame on screen. The
 * cursor is hidden meanwhile.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Effect.acquireRelease(Output.startLive, () => Output.endLive)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startLive: Effect.Effect<void> = Effect.sync(() => {
  live = Terminal.empty
  process.stderr.write("\x1b[?25l")
})

/**
 * Redraws the live area's frame (see {@link startLive}); without a live area, prints the lines.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.drawLive(["products  running 00:01"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const drawLive = (lines: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.sync(() => {
    if (live === undefined) return unsafeErrLines(lines)
    const [text, next] = Terminal.draw(live, lines, width(process.stderr))
    live = next
    process.stderr.write(text)
  })

/**
 * Ends the live area: its last frame stays on screen, the cursor shows again.
 *
 * @example
 * ```ts
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Output.endLive
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const endLive: Effect.Effect<void> = Effect.sync(() => {
  if (live === undefined) return
  live = undefined
  process.stderr.write("\x1b[?25h")
})

/**
 * The CLI's `Console`: Node's console over stdout and stderr, without ANSI codes where {@link plain} drops them
 * (the help `@effect/cli` prints, piped, has none).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Effect.log("hi").pipe(Effect.withConsole(Output.console))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const console: Console.Console = (() => {
  const writer = (stream: NodeJS.WriteStream) =>
    new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _, done) => {
        stream.write(plain(String(chunk), stream))
        done()
      }
    })
  const unsafe = new NodeConsole({ stdout: writer(process.stdout), stderr: writer(process.stderr) })
  const lift = (f: (...args: ReadonlyArray<any>) => void) => (...args: ReadonlyArray<any>) =>
    Effect.sync(() => f(...args))
  return {
    [ConsoleTypeId]: ConsoleTypeId,
    assert: lift((condition, ...args) => unsafe.assert(condition, ...args)),
    clear: Effect.sync(() => unsafe.clear()),
    count: lift((label) => unsafe.count(label)),
    countReset: lift((label) => unsafe.countReset(label)),
    debug: lift((...args) => unsafe.debug(...args)),
    dir: lift((item, options) => unsafe.dir(item, options)),
    dirxml: lift((...args) => unsafe.dirxml(...args)),
    error: lift((...args) => unsafe.error(...args)),
    group: (options) =>
      Effect.sync(() =>
        options?.collapsed === true ? unsafe.groupCollapsed(options.label) : unsafe.group(options?.label)
      ),
    groupEnd: Effect.sync(() => unsafe.groupEnd()),
    info: lift((...args) => unsafe.info(...args)),
    log: lift((...args) => unsafe.log(...args)),
    table: lift((data, properties) => unsafe.table(data, properties)),
    time: lift((label) => unsafe.time(label)),
    timeEnd: lift((label) => unsafe.timeEnd(label)),
    timeLog: lift((label, ...args) => unsafe.timeLog(label, ...args)),
    trace: lift((...args) => unsafe.trace(...args)),
    warn: lift((...args) => unsafe.warn(...args)),
    unsafe
  }
})()

/**
 * The CLI's logger: one line per log on stderr (`LEVEL message`, then the cause), above the live area when it is
 * on; stdout stays for results (and `--json-logs` events only).
 *
 * @example
 * ```ts
 * import { Effect, Logger } from "effect"
 * import * as Output from "sluice/cli/Output"
 *
 * const program = Effect.logWarning("careful").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Output.logger)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const logger: Logger.Logger<unknown, void> = Logger.make(({ cause, logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map((part) =>
    typeof part === "string" ? part : safeString(part)
  ).join(" ")
  const lines = [`${logLevel.label} ${text}`]
  if (!Cause.isEmpty(cause)) lines.push(...Cause.pretty(cause, { renderErrorCause: true }).split("\n"))
  unsafeErrLines(lines.map((line) => plain(line, process.stderr)))
})

// =============================================================================
// internal
// =============================================================================

let live: Terminal.Live | undefined

const unsafeErrLines = (lines: ReadonlyArray<string>): void => {
  if (lines.length === 0) return
  if (live === undefined) {
    const columns = width(process.stderr)
    const fitted = columns === Infinity ? lines : lines.flatMap((line) => Terminal.wrap(line, columns - 1))
    process.stderr.write(fitted.join("\n") + "\n")
    return
  }
  const [text, next] = Terminal.print(live, lines, width(process.stderr))
  live = next
  process.stderr.write(text)
}

const noColor = (): boolean =>
  (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") || process.env.TERM === "dumb"

// eslint-disable-next-line no-control-regex
const allEscapes = /\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])/g
// eslint-disable-next-line no-control-regex
const sgr = /\x1b\[[0-9;]*m/g

const safeString = (u: unknown): string => {
  if (typeof u === "object" && u !== null) {
    const json = Option.getOrUndefined(Option.liftThrowable(JSON.stringify)(u))
    if (json !== undefined) return json
  }
  return String(u)
}
