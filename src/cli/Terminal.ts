/**
 * Text on a terminal: the columns a text takes (ANSI codes take none, wide characters two), lines cut or wrapped
 * to a width, and the live area of `sluice run`: a frame redrawn in place, with lines printed above it, so that
 * nothing stale stays on screen and no line wraps (see {@link draw} and {@link print}). Everything here is pure:
 * the CLI writes the text it returns.
 *
 * @since 0.1.0
 */

/**
 * The columns a text takes on a terminal: ANSI escape sequences take none, wide characters (CJK, emoji) two,
 * combining marks none.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * Terminal.columns("\x1b[32mok\x1b[0m") // 2
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const columns = (text: string): number => {
  let n = 0
  for (let i = 0; i < text.length;) {
    if (text.charCodeAt(i) === 27) {
      i = escapeEnd(text, i)
      continue
    }
    const cp = text.codePointAt(i)!
    n += charColumns(cp)
    i += cp > 0xffff ? 2 : 1
  }
  return n
}

/**
 * Cuts a text to at most `width` columns, keeping its ANSI sequences whole (and resetting the style when it cut
 * a styled text).
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * Terminal.cut("products  running 00:12", 10) // "products  "
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const cut = (text: string, width: number): string => {
  let n = 0
  let styled = false
  for (let i = 0; i < text.length;) {
    if (text.charCodeAt(i) === 27) {
      styled = true
      i = escapeEnd(text, i)
      continue
    }
    const cp = text.codePointAt(i)!
    const w = charColumns(cp)
    if (n + w > width) return text.slice(0, i) + (styled ? "\x1b[0m" : "")
    n += w
    i += cp > 0xffff ? 2 : 1
  }
  return text
}

/**
 * Wraps a line of plain text to at most `width` columns: at spaces where it can, within words where it must;
 * continuation lines start with `indent` (default two spaces).
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * Terminal.wrap("run 1234: products → out/demo (8 items)", 20)
 * // ["run 1234: products", "  → out/demo (8", "  items)"]
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const wrap = (line: string, width: number, indent = "  "): ReadonlyArray<string> => {
  if (columns(line) <= width) return [line]
  const out: Array<string> = []
  let rest = line
  let prefix = ""
  const room = Math.max(1, width - columns(indent))
  while (columns(prefix + rest) > width) {
    const max = prefix === "" ? width : room
    const head = cut(rest, max)
    const space = head.lastIndexOf(" ")
    const take = space > 0 && rest[head.length] !== undefined ? head.slice(0, space) : head
    out.push(prefix + take.trimEnd())
    rest = rest.slice(take.length).trimStart()
    prefix = indent
    if (take.length === 0) break
  }
  if (rest !== "") out.push(prefix + rest)
  return out
}

/**
 * The live area: the lines of the frame on screen (already cut to fit), below everything printed before.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * const live: Terminal.Live = Terminal.empty
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Live {
  readonly frame: ReadonlyArray<string>
}

/**
 * The live area before the first frame.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * const [text, live] = Terminal.draw(Terminal.empty, ["products  starting 00:00"], 80)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Live = { frame: [] }

/**
 * Replaces the frame on screen by `lines`, each cut to `width - 1` columns (so that none wraps): the text moves
 * the cursor up over the previous frame (counting the rows each of its lines takes at this width, should the
 * terminal have narrowed and rewrapped them), clears to the end of the screen and prints the new frame.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * const [first, live] = Terminal.draw(Terminal.empty, ["a", "b"], 80) // "a\nb\n"
 * const [second] = Terminal.draw(live, ["c"], 80) // "\x1b[2F\x1b[0Jc\n"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const draw = (self: Live, lines: ReadonlyArray<string>, width: number): readonly [string, Live] => {
  const frame = lines.map((line) => cut(line, Math.max(1, width - 1)))
  return [erase(self, width) + text(frame), { frame }]
}

/**
 * Prints lines above the frame: the frame is cleared, the lines printed (wrapped to `width - 1` columns: they stay
 * on screen) and the frame drawn again below them.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * const [, live] = Terminal.draw(Terminal.empty, ["products  running 00:01"], 80)
 * const [text] = Terminal.print(live, ["run 1234: products → out (8 items)"], 80)
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const print = (self: Live, lines: ReadonlyArray<string>, width: number): readonly [string, Live] => {
  const printed = lines.flatMap((line) => wrap(line, Math.max(1, width - 1)))
  const [frame, next] = draw(empty, self.frame, width)
  return [erase(self, width) + text(printed) + frame, next]
}

/**
 * Lays out rows as a table that fits `width` columns: columns padded to their widest cell, two spaces apart,
 * numbers aligned right; when too wide, the columns listed in `drop` go, in that order, then the lines are cut.
 *
 * @example
 * ```ts
 * import * as Terminal from "sluice/cli/Terminal"
 *
 * Terminal.table([["step", "done", "tokens"], ["extract", "1,000", "52,000"]], { width: 16, drop: [2] })
 * // ["step      done", "extract  1,000"]
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (
  rows: ReadonlyArray<ReadonlyArray<string>>,
  options?: { readonly width?: number | undefined; readonly drop?: ReadonlyArray<number> | undefined } | undefined
): ReadonlyArray<string> => {
  const width = options?.width ?? Infinity
  const dropped = new Set<number>()
  let lines = layoutTable(rows, dropped)
  for (const column of options?.drop ?? []) {
    if (lines.every((line) => columns(line) <= width)) break
    dropped.add(column)
    lines = layoutTable(rows, dropped)
  }
  return width === Infinity ? lines : lines.map((line) => cut(line, width))
}

// =============================================================================
// internal
// =============================================================================

const text = (lines: ReadonlyArray<string>): string => lines.length === 0 ? "" : lines.join("\n") + "\n"

const erase = (self: Live, width: number): string => {
  let rows = 0
  for (const line of self.frame) rows += Math.max(1, Math.ceil(columns(line) / Math.max(1, width)))
  return rows === 0 ? "" : `\x1b[${rows}F\x1b[0J`
}

// The index after an escape sequence: CSI (ESC [ … final byte) or a two-character escape.
const escapeEnd = (text: string, i: number): number => {
  if (text[i + 1] !== "[") return Math.min(text.length, i + 2)
  let j = i + 2
  while (j < text.length && !(text.charCodeAt(j) >= 0x40 && text.charCodeAt(j) <= 0x7e)) j++
  return Math.min(text.length, j + 1)
}

const charColumns = (cp: number): number => {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2
  return 1
}

const numeric = /^-?[\d,.]+(%|ms|s|m\d+s|h\d+m|\/s)?$/

const layoutTable = (rows: ReadonlyArray<ReadonlyArray<string>>, dropped: ReadonlySet<number>): Array<string> => {
  const widths: Array<number> = []
  const right: Array<boolean> = []
  const numbers: Array<boolean> = []
  rows.forEach((row, r) =>
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, columns(cell))
      if (r === 0 || cell === "-" || cell === "") return
      right[i] = (right[i] ?? true) && numeric.test(cell)
      numbers[i] = true
    })
  )
  const pad = (cell: string, i: number) => {
    const fill = " ".repeat(Math.max(0, (widths[i] ?? 0) - columns(cell)))
    return right[i] === true && numbers[i] === true ? fill + cell : cell + fill
  }
  return rows.map((row) => row.flatMap((cell, i) => dropped.has(i) ? [] : [pad(cell, i)]).join("  ").trimEnd())
}
