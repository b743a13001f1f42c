/**
 * Character classes and string decoding for the partial parser.
 *
 * @internal
 */

export const isBlank = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9

export const isWordChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95

export const hexValue = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1

/**
 * Decodes `chunk[start, end)`, a run of string content whose escapes are all complete and valid. Without raw control
 * characters `JSON.parse` does it natively and returns a flat string; lenient mode's raw control characters are kept.
 */
export const decodeRun = (chunk: string, start: number, end: number, control: boolean): string => {
  if (!control) return JSON.parse("\"" + chunk.slice(start, end) + "\"")
  let out = ""
  let from = start
  for (let i = start; i < end; i++) {
    if (chunk.charCodeAt(i) !== 92) continue
    out += chunk.slice(from, i)
    const e = chunk.charCodeAt(i + 1)
    if (e === 117) {
      out += String.fromCharCode(parseInt(chunk.slice(i + 2, i + 6), 16))
      i += 5
    } else {
      out += ESCAPES[e]
      i++
    }
    from = i + 1
  }
  return out + chunk.slice(from, end)
}

/** @internal */
export const ESCAPES: Readonly<Record<number, string | undefined>> = {
  34: "\"",
  92: "\\",
  47: "/",
  98: "\b",
  102: "\f",
  110: "\n",
  114: "\r",
  116: "\t"
}

export const show = (c: number): string => JSON.stringify(String.fromCharCode(c))
