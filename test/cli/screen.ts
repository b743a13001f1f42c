/**
 * A tiny terminal model for tests: renders text with the ANSI sequences the CLI uses (cursor up to a previous line,
 * erase to the end of the screen or line, column moves; colours and cursor visibility are ignored) on a screen of
 * `width` columns with automatic wrapping, and tells which rows a wrap made.
 */
export interface Screen {
  readonly lines: ReadonlyArray<string>
  /** Rows that began because the previous one overflowed the width. */
  readonly wrapped: ReadonlyArray<number>
}

export const render = (text: string, width: number): Screen => {
  const rows: Array<Array<string>> = [[]]
  const wrappedRows = new Set<number>()
  let row = 0
  let col = 0
  let pending = false
  const line = (r: number) => (rows[r] ??= [])
  const newline = () => {
    row++
    col = 0
    pending = false
    line(row)
  }
  for (let i = 0; i < text.length;) {
    const c = text[i]!
    if (c === "\x1b") {
      // eslint-disable-next-line no-control-regex
      const match = /^\x1b\[(\??)([0-9;]*)([A-Za-z])/.exec(text.slice(i))
      if (match === null) throw new Error(`unknown escape at ${i}: ${JSON.stringify(text.slice(i, i + 8))}`)
      i += match[0].length
      const n = match[2] === "" ? undefined : Number(match[2]!.split(";")[0])
      switch (match[3]) {
        case "F":
          row = Math.max(0, row - (n ?? 1))
          col = 0
          pending = false
          break
        case "A":
          row = Math.max(0, row - (n ?? 1))
          pending = false
          break
        case "G":
          col = (n ?? 1) - 1
          pending = false
          break
        case "J":
          if ((n ?? 0) !== 0) throw new Error(`unsupported erase ${match[0]}`)
          line(row).length = col
          rows.length = row + 1
          for (const r of [...wrappedRows]) if (r > row || (r === row && col === 0)) wrappedRows.delete(r)
          break
        case "K":
          if ((n ?? 0) === 2) rows[row] = []
          else line(row).length = col
          break
        case "m":
        case "h":
        case "l":
          break
        default:
          throw new Error(`unsupported sequence ${JSON.stringify(match[0])}`)
      }
      continue
    }
    const cp = text.codePointAt(i)!
    const ch = String.fromCodePoint(cp)
    i += ch.length
    if (ch === "\n") {
      newline()
      continue
    }
    if (ch === "\r") {
      col = 0
      pending = false
      continue
    }
    if (pending) {
      newline()
      wrappedRows.add(row)
    }
    const cells = line(row)
    while (cells.length < col) cells.push(" ")
    cells[col] = ch
    if (col === width - 1) pending = true
    else col++
  }
  const lines = rows.map((cells) => cells.join("").trimEnd())
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  return { lines, wrapped: [...wrappedRows].sort((a, b) => a - b) }
}
