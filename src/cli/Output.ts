/**
 * Where the CLI writes: `stdout` for results (summaries, reports, `--json-logs` events), `stderr` for progress and
 * errors.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

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
  lines.length === 0 ? Effect.void : writeErr(lines.join("\n") + "\n")

/**
 * Lays out rows as a table: columns padded to their widest cell, two spaces apart, numbers (cells matching a
 * number, a duration or a percentage, or `-`) aligned right.
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
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths: Array<number> = []
  const right: Array<boolean> = []
  const numbers: Array<boolean> = []
  rows.forEach((row, r) =>
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
      if (r === 0 || cell === "-" || cell === "") return
      right[i] = (right[i] ?? true) && numeric.test(cell)
      numbers[i] = true
    })
  )
  return rows.map((row) =>
    row.map((cell, i) =>
      right[i] === true && numbers[i] === true ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)
    )
      .join("  ")
      .trimEnd()
  )
}

const numeric = /^-?[\d,.]+(%|ms|s|m\d+s|h\d+m|\/s)?$/
