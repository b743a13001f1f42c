/**
 * The incremental parser behind `PartialJson`: a state machine over a stack of open containers.
 *
 * @internal
 */
import type * as PartialJson from "../../PartialJson.js"
import { PartialJsonError } from "../../PartialJsonError.js"
import { fastNumber, N_DOT, N_E, N_EXP, N_FRAC, N_INT, N_MINUS, N_SIGN, N_ZERO, numberPrefixValue } from "./number.js"
import { decodeRun, ESCAPES, hexValue, isBlank, isWordChar, show } from "./text.js"

/** @internal */
export const TypeId: PartialJson.TypeId = Symbol.for("sluice/PartialJson/Parser") as PartialJson.TypeId

const S_VALUE = 0
const S_KEY = 1
const S_COLON = 2
const S_AFTER = 3
const S_STRING = 4
const S_ESCAPE = 5
const S_UNICODE = 6
const S_NUMBER = 7
const S_LITERAL = 8
const S_DONE = 9
const S_ERROR = 10
const S_START = 11
const S_PROSE = 12
const S_FENCE_INFO = 13
const S_SLASH = 14
const S_LINE_COMMENT = 15
const S_BLOCK_COMMENT = 16
const S_BLOCK_STAR = 17

const LITERAL_TEXT = ["true", "false", "null"] as const
const LITERAL_VALUE = [true, false, null] as const

const setKey = (object: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    object[key] = value
  }
}

const copyContainer = (container: any): any => Array.isArray(container) ? container.slice() : { ...container }

/** The number of slots (elements or keys) of a container, i.e. what copying it costs. */
const slots = (container: any): number => {
  if (Array.isArray(container)) return container.length
  let n = 0
  for (const _ in container) n++
  return n
}

/**
 * A snapshot is due when the open containers hold at most `SNAPSHOT_FREE_SLOTS` slots plus `SNAPSHOT_SLOTS_PER_CHAR`
 * per character fed since the last one: snapshots then copy at most `FREE + PER_CHAR` slots per character overall.
 */
const SNAPSHOT_FREE_SLOTS = 128
const SNAPSHOT_SLOTS_PER_CHAR = 0.5

export class ParserImpl implements PartialJson.Parser {
  readonly [TypeId]: PartialJson.TypeId = TypeId
  value: unknown = undefined
  done = false
  error: PartialJsonError | undefined = undefined
  version = 0
  offset = 0

  readonly strict: boolean
  private readonly extract: boolean
  private readonly partialStrings: boolean
  private readonly partialNumbers: boolean
  private readonly onComplete: ((path: PartialJson.Path, value: unknown) => void) | undefined

  private state: number
  /** The state a comment returns to. */
  private resume = S_VALUE
  private depth = 0
  private readonly containers: Array<any> = []
  private readonly isArray: Array<boolean> = []
  /** Per open container: the current key (objects) or the index of the next element (arrays). */
  private readonly keys: Array<any> = []
  /** A `,` was the last token (so a closing bracket now is a trailing comma). */
  private afterComma = false
  /** The value in progress has been placed in its slot, as `placedValue`. */
  private placed = false
  private placedValue: unknown = undefined
  private isKey = false
  /** The string in progress, up to the current run. */
  private acc = ""
  private unicodeCount = 0
  private unicodeCode = 0
  /** The number in progress: text from earlier chunks, start index in the current chunk, grammar state. */
  private numText = ""
  private numStart = 0
  private numState = 0
  private literal = 0
  private literalIndex = 0
  private ticks = 0
  /** Where the string that opened in the current chunk starts (its first content character), or -1. */
  private contentStart = -1
  private readonly keyCache: Array<string | undefined> = []
  /** Characters fed since the last snapshot, and the number of slots (elements, keys) that snapshot copied. */
  private credit = 0
  spineCost = 0

  constructor(options: PartialJson.Options | undefined) {
    this.strict = options?.strict === true
    this.extract = options?.extract ?? !this.strict
    this.partialStrings = options?.partialStrings ?? true
    this.partialNumbers = options?.partialNumbers ?? true
    this.onComplete = options?.onComplete
    this.state = this.extract ? S_START : S_VALUE
  }

  feed(chunk: string): unknown {
    const n = chunk.length
    this.credit += n
    let i = 0
    this.numStart = 0
    this.contentStart = -1
    while (i < n) i = this.step(chunk, i, n)
    if (this.state === S_NUMBER) this.numText += chunk.slice(this.numStart, n)
    this.flushPartial()
    this.offset += n
    return this.value
  }

  end(): unknown {
    if (this.state === S_NUMBER && this.depth === 0) {
      const ns = this.numState
      if (ns === N_ZERO || ns === N_INT || ns === N_FRAC || ns === N_EXP) {
        const text = this.numText
        this.numText = ""
        this.completeScalar(+text)
      }
    }
    return this.value
  }

  isComplete(path: PartialJson.Path): boolean {
    let node: any = this.value
    for (const key of path) {
      if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return false
      node = node[key]
    }
    if (node === undefined) return false
    if (this.done) return true
    const len = path.length
    const scalar = this.state === S_NUMBER || this.state === S_LITERAL ||
      ((this.state === S_STRING || this.state === S_ESCAPE || this.state === S_UNICODE) && !this.isKey)
    if (len > this.depth || (len === this.depth && !scalar)) return true
    for (let d = 0; d < len; d++) {
      if (this.keys[d] !== path[d]) return true
    }
    return false
  }

  snapshot(): unknown {
    this.credit = 0
    if (this.depth === 0) {
      this.spineCost = 0
      return this.value
    }
    const root = copyContainer(this.containers[0])
    let cost = slots(root)
    let parent = root
    for (let d = 1; d < this.depth; d++) {
      const copy = copyContainer(this.containers[d])
      cost += slots(copy)
      if (this.isArray[d - 1]) parent[this.keys[d - 1]] = copy
      else setKey(parent, this.keys[d - 1], copy)
      parent = copy
    }
    this.spineCost = cost
    return root
  }

  snapshotDue(): boolean {
    return this.spineCost <= SNAPSHOT_FREE_SLOTS + this.credit * SNAPSHOT_SLOTS_PER_CHAR
  }

  /** Reads from `chunk[i]` in the current state; returns the index where it stopped. */
  private step(chunk: string, i: number, n: number): number {
    switch (this.state) {
      case S_STRING:
        return this.onString(chunk, i, n)
      case S_VALUE:
        return this.onValue(chunk, i, n)
      case S_AFTER:
        return this.onAfter(chunk, i, n)
      case S_KEY:
        return this.onKey(chunk, i, n)
      case S_COLON:
        return this.onColon(chunk, i, n)
      case S_NUMBER:
        return this.onNumber(chunk, i, n)
      case S_LITERAL:
        return this.onLiteral(chunk, i, n)
      case S_ESCAPE:
        return this.onEscape(chunk, i)
      case S_UNICODE:
        return this.onUnicode(chunk, i, n)
      case S_START:
        return this.onStart(chunk, i, n)
      case S_PROSE:
        return this.onProse(chunk, i, n)
      case S_FENCE_INFO:
        return this.onFenceInfo(chunk, i, n)
      case S_SLASH:
        return this.onSlash(chunk, i)
      case S_LINE_COMMENT:
        return this.onLineComment(chunk, i, n)
      case S_BLOCK_COMMENT:
        return this.onBlockComment(chunk, i, n)
      case S_BLOCK_STAR:
        return this.onBlockStar(chunk, i)
      case S_DONE:
        return this.onDone(chunk, i, n)
      default:
        return n
    }
  }

  private onString(chunk: string, i: number, n: number): number {
    // One run of the string: escapes complete within this chunk are only validated here and decoded at
    // the end of the run in one go (a flat string); an escape cut by the chunk end goes through S_ESCAPE.
    const start = i
    let escaped = false
    let control = false
    let c = 0
    for (; i < n; i++) {
      c = chunk.charCodeAt(i)
      if (c === 34) break
      if (c === 92) {
        if (i + 1 < n) {
          const e = chunk.charCodeAt(i + 1)
          if (e === 110 || e === 34 || e === 92 || e === 116 || e === 114 || e === 47 || e === 98 || e === 102) {
            escaped = true
            i++
            continue
          }
          if (
            e === 117 && i + 5 < n && hexValue(chunk.charCodeAt(i + 2)) >= 0 &&
            hexValue(chunk.charCodeAt(i + 3)) >= 0 && hexValue(chunk.charCodeAt(i + 4)) >= 0 &&
            hexValue(chunk.charCodeAt(i + 5)) >= 0
          ) {
            escaped = true
            i += 5
            continue
          }
        }
        break
      }
      if (c < 32) {
        if (this.strict) break
        control = true
      }
    }
    const run = start === i
      ? ""
      : !escaped
      ? undefined
      : c === 34 && start === this.contentStart && !control
      ? JSON.parse(chunk.slice(start - 1, i + 1)) as string
      : decodeRun(chunk, start, i, control)
    if (i === n) {
      if (start < n) this.acc += run ?? chunk.slice(start, n)
    } else if (c === 34) {
      if (this.isKey) {
        this.keys[this.depth - 1] = this.acc === "" && run === undefined
          ? this.key(chunk, start, i)
          : this.acc + (run ?? chunk.slice(start, i))
        this.acc = ""
        this.state = S_COLON
        i++
      } else {
        const s = this.acc === "" ? run ?? chunk.slice(start, i) : this.acc + (run ?? chunk.slice(start, i))
        this.acc = ""
        i++
        this.completeScalar(s)
      }
    } else if (c === 92) {
      if (start < i) this.acc += run ?? chunk.slice(start, i)
      i++
      this.state = S_ESCAPE
    } else {
      if (start < i) this.acc += run ?? chunk.slice(start, i)
      i = this.fail(
        "ControlCharacter",
        i,
        `raw control character U+${c.toString(16).padStart(4, "0")} in a string`
      )
    }
    return i
  }

  private onValue(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i < n) i = this.startValue(i, c)
    return i
  }

  private onAfter(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i === n) return i
    const top = this.depth - 1
    if (c === 44) {
      this.afterComma = true
      this.state = this.isArray[top] ? S_VALUE : S_KEY
      i++
    } else if (c === 93 || c === 125) {
      if (this.isArray[top] === (c === 93)) {
        this.close()
        i++
      } else {
        i = this.fail("MismatchedBracket", i, `${show(c)} closes ${this.isArray[top] ? "an array" : "an object"}`)
      }
    } else if (c === 47 && !this.strict) {
      this.comment(S_AFTER)
      i++
    } else {
      i = this.fail(
        "UnexpectedCharacter",
        i,
        `expected "," or "${this.isArray[top] ? "]" : "}"}" but found ${show(c)}`
      )
    }
    return i
  }

  private onKey(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i === n) return i
    if (c === 34) {
      this.isKey = true
      this.acc = ""
      this.state = S_STRING
      this.contentStart = ++i
    } else if (c === 125) {
      if (this.afterComma && this.strict) {
        i = this.fail("TrailingComma", i, "\"}\" after \",\"")
      } else {
        this.close()
        i++
      }
    } else if (c === 47 && !this.strict) {
      this.comment(S_KEY)
      i++
    } else {
      i = this.fail("UnexpectedCharacter", i, `expected a key in double quotes but found ${show(c)}`)
    }
    return i
  }

  private onColon(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i === n) return i
    if (c === 58) {
      this.afterComma = false
      this.state = S_VALUE
      i++
    } else if (c === 47 && !this.strict) {
      this.comment(S_COLON)
      i++
    } else {
      i = this.fail("UnexpectedCharacter", i, `expected ":" after a key but found ${show(c)}`)
    }
    return i
  }

  private onNumber(chunk: string, i: number, n: number): number {
    let ns = this.numState
    let bad = false
    let c = 0
    for (; i < n; i++) {
      c = chunk.charCodeAt(i)
      if (c >= 48 && c <= 57) {
        if (ns === N_INT || ns === N_FRAC || ns === N_EXP) continue
        if (ns === N_MINUS) ns = c === 48 ? N_ZERO : N_INT
        else if (ns === N_DOT) ns = N_FRAC
        else if (ns === N_E || ns === N_SIGN) ns = N_EXP
        else {
          bad = true
          break
        }
      } else if (c === 46) {
        if (ns === N_INT || ns === N_ZERO) ns = N_DOT
        else {
          bad = true
          break
        }
      } else if (c === 101 || c === 69) {
        if (ns === N_INT || ns === N_ZERO || ns === N_FRAC) ns = N_E
        else {
          bad = true
          break
        }
      } else if (c === 43 || c === 45) {
        if (ns === N_E) ns = N_SIGN
        else {
          bad = true
          break
        }
      } else {
        break
      }
    }
    this.numState = ns
    if (i === n) {
      return i
    } else if (bad || ns === N_MINUS || ns === N_DOT || ns === N_E || ns === N_SIGN || isWordChar(c)) {
      this.numText += chunk.slice(this.numStart, i)
      i = this.fail("InvalidNumber", i, `${show(c)} after ${JSON.stringify(this.numText)}`)
    } else if (this.numText === "") {
      const value = fastNumber(chunk, this.numStart, i)
      this.completeScalar(value === value ? value : +chunk.slice(this.numStart, i))
    } else {
      const text = this.numText + chunk.slice(this.numStart, i)
      this.numText = ""
      this.completeScalar(+text)
    }
    return i
  }

  private onLiteral(chunk: string, i: number, n: number): number {
    const text = LITERAL_TEXT[this.literal]!
    let k = this.literalIndex
    while (i < n && k < text.length && chunk.charCodeAt(i) === text.charCodeAt(k)) {
      i++
      k++
    }
    this.literalIndex = k
    if (k === text.length) {
      this.completeScalar(LITERAL_VALUE[this.literal])
    } else if (i < n) {
      i = this.fail(
        "InvalidLiteral",
        i,
        `${show(chunk.charCodeAt(i))} after ${JSON.stringify(text.slice(0, k))} (expected ${text})`
      )
    }
    return i
  }

  private onEscape(chunk: string, i: number): number {
    const c = chunk.charCodeAt(i)
    if (c === 117) {
      this.unicodeCount = 0
      this.unicodeCode = 0
      this.state = S_UNICODE
      return i + 1
    }
    this.state = S_STRING
    const escaped = ESCAPES[c]
    if (escaped === undefined) {
      return this.fail("InvalidEscape", i, `"\\${String.fromCharCode(c)}" is not a JSON escape`)
    }
    this.acc += escaped
    return i + 1
  }

  private onUnicode(chunk: string, i: number, n: number): number {
    while (i < n && this.unicodeCount < 4) {
      const h = hexValue(chunk.charCodeAt(i))
      if (h < 0) break
      this.unicodeCode = this.unicodeCode * 16 + h
      this.unicodeCount++
      i++
    }
    if (this.unicodeCount === 4) {
      this.acc += String.fromCharCode(this.unicodeCode)
      this.state = S_STRING
    } else if (i < n) {
      i = this.fail("InvalidEscape", i, `${show(chunk.charCodeAt(i))} in a \\u escape (expected 4 hex digits)`)
    }
    return i
  }

  private onDone(chunk: string, i: number, n: number): number {
    if (!this.strict || this.extract) return n
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i < n) i = this.fail("TrailingContent", i, `${show(c)} after the root value`)
    return i
  }

  private onStart(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
    if (i === n) return i
    if (
      c === 123 || c === 91 || c === 34 || c === 45 || (c >= 48 && c <= 57) || c === 116 || c === 102 ||
      c === 110
    ) {
      this.state = S_VALUE
    } else {
      this.ticks = 0
      this.state = S_PROSE
    }
    return i
  }

  private onProse(chunk: string, i: number, n: number): number {
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i)
      if (c === 123 || c === 91) {
        this.state = S_VALUE
        break
      }
      if (c !== 96) {
        this.ticks = 0
      } else if (++this.ticks === 3) {
        this.ticks = 0
        this.state = S_FENCE_INFO
        i++
        break
      }
    }
    return i
  }

  private onFenceInfo(chunk: string, i: number, n: number): number {
    let c = chunk.charCodeAt(i)
    while ((isWordChar(c) || c === 43 || c === 45 || c === 46 || c === 35) && ++i < n) c = chunk.charCodeAt(i)
    if (i < n) this.state = S_START
    return i
  }

  private onSlash(chunk: string, i: number): number {
    const c = chunk.charCodeAt(i)
    if (c === 47) {
      this.state = S_LINE_COMMENT
      i++
    } else if (c === 42) {
      this.state = S_BLOCK_COMMENT
      i++
    } else {
      this.state = this.resume
      i = this.fail("UnexpectedCharacter", i - 1, `"/" not followed by "/" or "*"`)
    }
    return i
  }

  private onLineComment(chunk: string, i: number, n: number): number {
    while (i < n && chunk.charCodeAt(i) !== 10) i++
    if (i < n) {
      this.state = this.resume
      i++
    }
    return i
  }

  private onBlockComment(chunk: string, i: number, n: number): number {
    while (i < n && chunk.charCodeAt(i) !== 42) i++
    if (i < n) {
      this.state = S_BLOCK_STAR
      i++
    }
    return i
  }

  private onBlockStar(chunk: string, i: number): number {
    const c = chunk.charCodeAt(i)
    if (c === 47) this.state = this.resume
    else if (c !== 42) this.state = S_BLOCK_COMMENT
    i++
    return i
  }

  /**
   * The key held in `chunk[start, end)`: short keys come from a small cache of recent keys, so that repeated keys
   * (the same fields in every element of an array) are neither allocated nor re-internalized.
   */
  private key(chunk: string, start: number, end: number): string {
    const len = end - start
    if (len === 0 || len > 32) return chunk.slice(start, end)
    const slot = (len * 31 + chunk.charCodeAt(start) * 7 + chunk.charCodeAt(end - 1)) & 255
    const cached = this.keyCache[slot]
    if (cached !== undefined && cached.length === len && chunk.startsWith(cached, start)) return cached
    const key = chunk.slice(start, end)
    this.keyCache[slot] = key
    return key
  }

  /** Starts the value whose first character `c` is at `i`; returns the next index. */
  private startValue(i: number, c: number): number {
    switch (c) {
      case 34: {
        this.isKey = false
        this.acc = ""
        this.placed = false
        this.state = S_STRING
        return this.contentStart = i + 1
      }
      case 123:
      case 91: {
        const container = c === 91 ? [] : {}
        this.placeContainer(container)
        const d = this.depth++
        this.containers[d] = container
        this.isArray[d] = c === 91
        this.keys[d] = c === 91 ? 0 : ""
        this.afterComma = false
        this.state = c === 91 ? S_VALUE : S_KEY
        return i + 1
      }
      case 116:
      case 102:
      case 110: {
        this.literal = c === 116 ? 0 : c === 102 ? 1 : 2
        this.literalIndex = 1
        this.placed = false
        this.state = S_LITERAL
        return i + 1
      }
      case 93: {
        const top = this.depth - 1
        if (top >= 0 && this.isArray[top]) {
          if (this.afterComma && this.strict) return this.fail("TrailingComma", i, "\"]\" after \",\"")
          this.close()
          return i + 1
        }
        return this.fail(top >= 0 ? "MismatchedBracket" : "UnexpectedCharacter", i, "unexpected \"]\"")
      }
      case 47: {
        if (!this.strict) {
          this.comment(S_VALUE)
          return i + 1
        }
        break
      }
      default: {
        if (c === 45 || (c >= 48 && c <= 57)) {
          this.numText = ""
          this.numStart = i
          this.numState = c === 45 ? N_MINUS : c === 48 ? N_ZERO : N_INT
          this.placed = false
          this.state = S_NUMBER
          return i + 1
        }
        if (c === 43 || c === 46) return this.fail("InvalidNumber", i, `a number cannot start with ${show(c)}`)
      }
    }
    const top = this.depth - 1
    if (c === 125 && top >= 0 && this.isArray[top]) return this.fail("MismatchedBracket", i, "\"}\" closes an array")
    return this.fail("UnexpectedCharacter", i, `expected a value but found ${show(c)}`)
  }

  private comment(resume: number): void {
    this.resume = resume
    this.state = S_SLASH
  }

  private placeContainer(container: unknown): void {
    this.version++
    if (this.depth === 0) {
      this.value = container
      return
    }
    const top = this.depth - 1
    const parent = this.containers[top]
    if (this.isArray[top]) parent.push(container)
    else setKey(parent, this.keys[top], container)
  }

  /** Puts a (partial or final) scalar in its slot, replacing the partial value placed earlier. */
  private placeScalar(value: unknown): void {
    if (this.placed && this.placedValue === value) return
    if (this.depth === 0) {
      this.value = value
    } else {
      const top = this.depth - 1
      const parent = this.containers[top]
      if (!this.isArray[top]) setKey(parent, this.keys[top], value)
      else if (this.placed) parent[parent.length - 1] = value
      else parent.push(value)
    }
    this.version++
    this.placed = true
    this.placedValue = value
  }

  private completeScalar(value: unknown): void {
    this.placeScalar(value)
    this.placed = false
    if (this.onComplete !== undefined) this.onComplete(this.keys.slice(0, this.depth), value)
    this.afterValue()
  }

  private close(): void {
    const d = --this.depth
    const container = this.containers[d]
    this.containers[d] = undefined
    if (this.onComplete !== undefined) this.onComplete(this.keys.slice(0, d), container)
    this.afterValue()
  }

  private afterValue(): void {
    if (this.depth === 0) {
      this.done = true
      this.state = S_DONE
    } else {
      const top = this.depth - 1
      if (this.isArray[top]) this.keys[top]++
      this.afterComma = false
      this.state = S_AFTER
    }
  }

  /** Whether nothing but a root scalar or the first token of an empty root container has been read. */
  private isProse(): boolean {
    const state = this.state
    if (this.depth === 0) return state === S_NUMBER || state === S_LITERAL
    if (this.depth > 1 || !(state === S_VALUE || state === S_KEY || state === S_NUMBER || state === S_LITERAL)) {
      return false
    }
    const root = this.containers[0]
    return this.isArray[0] ? root.length === 0 : Object.keys(root).length === 0 && this.keys[0] === ""
  }

  /** Shows the value in progress (at the end of a chunk, or before stopping at an error). */
  private flushPartial(): void {
    switch (this.state) {
      case S_STRING:
      case S_ESCAPE:
      case S_UNICODE: {
        if (!this.isKey && this.partialStrings) this.placeScalar(this.acc)
        break
      }
      case S_NUMBER: {
        if (this.partialNumbers) {
          const value = numberPrefixValue(this.numText, this.numState)
          if (value !== undefined) this.placeScalar(value)
        }
        break
      }
      case S_LITERAL: {
        this.placeScalar(LITERAL_VALUE[this.literal])
        break
      }
    }
  }

  /**
   * Handles malformed input at index `at` of the current chunk. In extract mode, a start that turns out to be prose
   * (a root number or literal, or a bracket whose first token is malformed, as in `[see below]` or `{name}`) is
   * dropped and scanning for the document resumes at `at`: the characters skipped hold no `{`, `[` or backtick.
   * Otherwise the parser stops with `error` set.
   */
  private fail(reason: PartialJsonError["reason"], at: number, description: string): number {
    if (this.extract && this.isProse()) {
      if (this.value !== undefined) {
        this.value = undefined
        this.version++
      }
      this.containers[0] = undefined
      this.depth = 0
      this.numText = ""
      this.placed = false
      this.ticks = 0
      this.state = S_PROSE
      return at
    }
    this.flushPartial()
    this.error = new PartialJsonError({ reason, offset: this.offset + at, description })
    this.state = S_ERROR
    return at
  }
}
