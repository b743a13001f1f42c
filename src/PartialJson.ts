/**
 * An incremental, tolerant, linear-time JSON parser for text that arrives in pieces (LLM output, streamed tool
 * arguments).
 *
 * - `parse(text)` returns the best-effort value of a possibly truncated document;
 * - `make()` returns a `Parser` that is fed chunk by chunk and returns the current value after each chunk;
 * - `parseStream(stream)` turns a `Stream<string>` into a `Stream` of values, emitted only when the value changed.
 *
 * **Cost.** The parser is a state machine (a stack of open containers plus the current token), so feeding a
 * document in any number of chunks costs O(total length): no prefix is ever parsed twice. The value is built in
 * place: `feed` returns the *live* value, which later chunks keep mutating (open objects gain keys, open arrays gain
 * elements, the last string grows). Read it before the next `feed`, or take `parser.snapshot()`, an independent copy
 * that shares every completed subtree and so costs only the size of the containers still open.
 *
 * **Semantics of truncation** (no value yet is `undefined`; JSON has no `undefined`, so this is unambiguous):
 *
 * | input so far | value |
 * |---|---|
 * | `"abc` (truncated string) | `"abc"`; with `partialStrings: false` the string is dropped (with its key) until it closes |
 * | `12.` / `2.5e` / `2.5e-` / `-1e+` (truncated number) | `12` / `2.5` / `2.5` / `-1`: the longest valid prefix; with `partialNumbers: false` a number is dropped until a delimiter ends it |
 * | `-` | no value (in an array: no element) |
 * | `t`, `fa`, `nul` (partial literal) | `true`, `false`, `null` |
 * | `{"ke` / `{"key"` / `{"key":` (partial key, key without value) | `{}`: the key is dropped |
 * | `"abc\` / `"abc\u00` (dangling backslash, partial `\u` escape) | `"abc"`: the partial escape is dropped |
 * | `[1, ` / `{"a": 1, ` (comma awaiting the next value) | `[1]` / `{"a": 1}` |
 * | `[` / `{"a": [{` | `[]` / `{"a": [{}]}`: open containers are closed |
 *
 * A root number is complete only when something follows it (whitespace) or when `end()` says the input is over:
 * until then `12` may still become `123`.
 *
 * **Lenient mode** (the default) never fails. It also accepts trailing commas (`[1,]`), `//` and `/* *\/` comments
 * between tokens and raw control characters (a literal newline) inside strings. Any other malformation stops the
 * parser: the value keeps everything before it and `parser.error` says what and where.
 *
 * **Strict mode** (`strict: true`, or `parseStrict`) accepts exactly the prefixes of valid JSON (RFC 8259) and
 * reports anything else (a trailing comma, a comment, `01`, `1.2.3`, `nul1`, `"\x"`, `[1}`, text after the root…) as
 * a `PartialJsonError` with the offset and a reason. Truncation is never an error.
 *
 * **Text around the JSON** (`extract`, on by default in lenient mode, off in strict mode): text before the document
 * is skipped up to the first `{` or `[`, or up to a Markdown fence (```` ```json ```` or ```` ``` ````; the fence may
 * arrive one character per chunk); a document whose first non-blank character can start a JSON value is parsed as
 * JSON from there. A false start is dropped as soon as it proves to be prose, and the search goes on: a root number or
 * literal that breaks off (`the answer: {…}`, `1. First…`), or a bracket whose first token is malformed
 * (`[see below]`, `{name}`); until then the false start may show as a value (`true`, `[]`). Everything after the root
 * value (a closing fence, prose, a second code block) is ignored.
 *
 * **Completed values.** `parser.isComplete(path)` tells whether the value at a path is final (its closing quote,
 * bracket or delimiter has been read), and the `onComplete` option is called with the path and value of every
 * scalar and container as it completes, innermost first. A completed value never changes afterwards. Object keys
 * appear in the value when their value starts; a duplicated key keeps its first position and takes the last value,
 * as with `JSON.parse`.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import { PartialJsonError } from "./PartialJsonError.js"

/**
 * Marks a `Parser`.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 *
 * PartialJson.TypeId in PartialJson.make() // true
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/PartialJson/Parser")

/**
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 *
 * const id: PartialJson.TypeId = PartialJson.TypeId
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The location of a value inside the document: object keys and array indices from the root (`[]` is the root).
 *
 * @example
 * ```ts
 * import type { Path } from "sluice/PartialJson"
 *
 * const path: Path = ["items", 0, "name"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Path = ReadonlyArray<string | number>

/**
 * How the parser treats its input (see the module documentation for the full semantics).
 *
 * - `strict` (default `false`): report malformed input as a `PartialJsonError` instead of tolerating or stopping;
 * - `extract` (default `!strict`): skip prose and Markdown fences around the document;
 * - `partialStrings` (default `true`): show a string before its closing quote;
 * - `partialNumbers` (default `true`): show a number before a delimiter ends it;
 * - `onComplete`: called with the path and value of every value as it completes (innermost first).
 *
 * @example
 * ```ts
 * import type { Options } from "sluice/PartialJson"
 *
 * const conservative: Options = { partialStrings: false, partialNumbers: false }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly strict?: boolean | undefined
  readonly extract?: boolean | undefined
  readonly partialStrings?: boolean | undefined
  readonly partialNumbers?: boolean | undefined
  readonly onComplete?: ((path: Path, value: unknown) => void) | undefined
}

/**
 * An incremental parser: feed it chunks, read the current value after each.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 *
 * const parser = PartialJson.make()
 * parser.feed('{"name": "Ad')          // { name: "Ad" }
 * parser.isComplete(["name"])          // false
 * parser.feed('a", "tags": ["x"')      // { name: "Ada", tags: ["x"] }
 * parser.isComplete(["name"])          // true
 * parser.feed("]}")
 * parser.done                          // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Parser {
  readonly [TypeId]: TypeId
  /** Feeds the next chunk; returns the current live value (`undefined` while there is none). */
  feed(chunk: string): unknown
  /** Says the input is over (completes a root number such as `12`); returns the final value. */
  end(): unknown
  /** The current live value, `undefined` while there is none. */
  readonly value: unknown
  /** Whether the root value is complete. */
  readonly done: boolean
  /** Set when the input turned out malformed; parsing stopped there (and, in strict mode, this is the failure). */
  readonly error: PartialJsonError | undefined
  /** Increases whenever the visible value changes: compare versions to skip unchanged emissions. */
  readonly version: number
  /** The number of characters (UTF-16 units) fed so far. */
  readonly offset: number
  /** Whether the value at `path` exists and is complete: it will not change any more. */
  isComplete(path: Path): boolean
  /** An independent copy of the current value that shares the completed subtrees with the live value. */
  snapshot(): unknown
  /**
   * Whether taking a `snapshot` now keeps the total cost of snapshots linear in the document: true once the text
   * fed since the last snapshot covers the size of the containers still open (a few element copies per character).
   * While the open containers are small (up to 128 elements and keys) it is true after every chunk; while a long
   * list is being filled it is true every so many chunks, so that snapshotting "when due" costs O(document) overall
   * where snapshotting after every chunk costs O(chunks × list length).
   */
  snapshotDue(): boolean
}

/**
 * Creates an incremental parser.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 *
 * const completed: Array<string> = []
 * const parser = PartialJson.make({ onComplete: (path) => completed.push(path.join(".")) })
 * for (const chunk of ['```json\n{"items": [{"na', 'me": "a"}, {"name": "b', '"}]}\n```']) {
 *   parser.feed(chunk)
 * }
 * // completed: ["items.0.name", "items.0", "items.1.name", "items.1", "items", ""]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options | undefined): Parser => new ParserImpl(options)

/**
 * Parses a possibly truncated document in one go (lenient, or as `options` say) and returns its best-effort value,
 * or `undefined` when the text holds no value yet. The text is taken as the whole input, so a root number such as
 * `12` is complete. Never fails: malformed input yields the value read before the malformation.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 *
 * PartialJson.parse('{"a": [1, 2.5e') // { a: [1, 2.5] }
 * PartialJson.parse('Sure! ```json\n{"ok": tr') // { ok: true }
 * PartialJson.parse("-") // undefined
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string, options?: Omit<Options, "strict"> | undefined): unknown => {
  const parser = new ParserImpl(options === undefined ? undefined : { ...options, strict: false })
  parser.feed(text)
  return parser.end()
}

/**
 * Parses a possibly truncated document in strict mode: `Right` with the best-effort value (`undefined` when there
 * is none yet) when the text is a prefix of valid JSON, `Left` with a `PartialJsonError` otherwise.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 * import * as Either from "effect/Either"
 *
 * PartialJson.parseStrict('[1, {"a": "b') // Either.right([1, { a: "b" }])
 * Either.isLeft(PartialJson.parseStrict("[1,]")) // true: a trailing comma is malformed, not truncated
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseStrict = (
  text: string,
  options?: Omit<Options, "strict"> | undefined
): Either.Either<unknown, PartialJsonError> => {
  const parser = new ParserImpl({ ...options, strict: true })
  parser.feed(text)
  const value = parser.end()
  return parser.error === undefined ? Either.right(value) : Either.left(parser.error)
}

/**
 * Parses a stream of text chunks into a stream of values: after a chunk the current value is emitted if it changed
 * and a snapshot is due (`Parser.snapshotDue`), and the final value is always emitted. Each emission is a
 * `snapshot`: an independent value, safe to keep, that shares the completed subtrees with the others. While the open
 * containers are small, that is after every chunk that changes the value; while a long list is being filled,
 * emissions thin out as it grows, so the whole stream costs O(document), not O(chunks × list length). In strict mode
 * the stream fails with the `PartialJsonError` at the first malformation; in lenient mode it never fails on its own.
 *
 * @example
 * ```ts
 * import * as PartialJson from "sluice/PartialJson"
 * import * as Stream from "effect/Stream"
 *
 * const values = Stream.make('{"a": "x', 'y"', ', "b": [1', "]}").pipe(PartialJson.parseStream())
 * // emits { a: "x" }, { a: "xy" }, { a: "xy", b: [1] }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const parseStream: {
  (
    options?: Options | undefined
  ): <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<unknown, E | PartialJsonError, R>
  <E, R>(
    self: Stream.Stream<string, E, R>,
    options?: Options | undefined
  ): Stream.Stream<unknown, E | PartialJsonError, R>
} = dual(
  (args) => Predicate.hasProperty(args[0], Stream.StreamTypeId),
  <E, R>(
    self: Stream.Stream<string, E, R>,
    options?: Options | undefined
  ): Stream.Stream<unknown, E | PartialJsonError, R> =>
    Stream.suspend(() => {
      const parser = new ParserImpl(options)
      let emitted = 0
      const emit = (out: Array<unknown>, last: boolean) => {
        if (parser.version !== emitted && parser.value !== undefined && (last || parser.snapshotDue())) {
          emitted = parser.version
          out.push(parser.snapshot())
        }
      }
      const strict = options?.strict === true
      return self.pipe(
        Stream.mapChunksEffect((chunk) => {
          const out: Array<unknown> = []
          for (const text of chunk) {
            parser.feed(text)
            if (strict && parser.error !== undefined) return Effect.fail(parser.error)
            emit(out, false)
          }
          return Effect.succeed(Chunk.unsafeFromArray(out))
        }),
        Stream.concat(Stream.suspend(() => {
          parser.end()
          const out: Array<unknown> = []
          emit(out, true)
          return Stream.fromIterable(out)
        }))
      )
    })
)

// =============================================================================
// internal
// =============================================================================

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

// number grammar states; N_ZERO, N_INT, N_FRAC and N_EXP are the ones a number may end in
const N_MINUS = 0
const N_ZERO = 1
const N_INT = 2
const N_DOT = 3
const N_FRAC = 4
const N_E = 5
const N_SIGN = 6
const N_EXP = 7

const LITERAL_TEXT = ["true", "false", "null"] as const
const LITERAL_VALUE = [true, false, null] as const

const isBlank = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9

const isWordChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95

const hexValue = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1

/**
 * Decodes `chunk[start, end)`, a run of string content whose escapes are all complete and valid. Without raw control
 * characters `JSON.parse` does it natively and returns a flat string; lenient mode's raw control characters are kept.
 */
const decodeRun = (chunk: string, start: number, end: number, control: boolean): string => {
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

const ESCAPES: Record<number, string> = {
  34: "\"",
  92: "\\",
  47: "/",
  98: "\b",
  102: "\f",
  110: "\n",
  114: "\r",
  116: "\t"
}

const POW10 = [
  1,
  1e1,
  1e2,
  1e3,
  1e4,
  1e5,
  1e6,
  1e7,
  1e8,
  1e9,
  1e10,
  1e11,
  1e12,
  1e13,
  1e14,
  1e15,
  1e16,
  1e17,
  1e18,
  1e19,
  1e20,
  1e21,
  1e22
]

/**
 * The value of the valid JSON number `text[start, end)` without allocating, when at most 15 significant digits and
 * a power of ten up to 22 make it exact (one correctly rounded IEEE operation, Clinger's fast path); `NaN` otherwise.
 */
const fastNumber = (text: string, start: number, end: number): number => {
  let i = start
  const negative = text.charCodeAt(i) === 45
  if (negative) i++
  let mantissa = 0
  let digits = 0
  let scale = 0
  let c = text.charCodeAt(i)
  while (i < end && c >= 48 && c <= 57) {
    mantissa = mantissa * 10 + c - 48
    digits++
    c = text.charCodeAt(++i)
  }
  if (i < end && c === 46) {
    c = text.charCodeAt(++i)
    while (i < end && c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + c - 48
      digits++
      scale++
      c = text.charCodeAt(++i)
    }
  }
  let exponent = 0
  if (i < end) {
    c = text.charCodeAt(++i)
    const negativeExponent = c === 45
    if (c === 45 || c === 43) c = text.charCodeAt(++i)
    if (end - i > 4) return NaN
    while (i < end) {
      exponent = exponent * 10 + c - 48
      c = text.charCodeAt(++i)
    }
    if (negativeExponent) exponent = -exponent
  }
  if (digits > 15) return NaN
  const power = exponent - scale
  const value = power === 0
    ? mantissa
    : power > 0 && power <= 22
    ? mantissa * POW10[power]!
    : power < 0 && power >= -22
    ? mantissa / POW10[-power]!
    : NaN
  return negative ? -value : value
}

const show = (c: number): string => JSON.stringify(String.fromCharCode(c))

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
const SNAPSHOT_SLOTS_PER_CHAR = 2

/** The value of a truncated number's longest valid prefix, or `undefined` when it has none (`-`). */
const numberPrefixValue = (text: string, state: number): number | undefined => {
  switch (state) {
    case N_MINUS:
      return undefined
    case N_DOT:
    case N_E:
      return +text.slice(0, -1)
    case N_SIGN:
      return +text.slice(0, -2)
    default:
      return +text
  }
}

class ParserImpl implements Parser {
  readonly [TypeId]: TypeId = TypeId
  value: unknown = undefined
  done = false
  error: PartialJsonError | undefined = undefined
  version = 0
  offset = 0

  private readonly strict: boolean
  private readonly extract: boolean
  private readonly partialStrings: boolean
  private readonly partialNumbers: boolean
  private readonly onComplete: ((path: Path, value: unknown) => void) | undefined

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
  private spineCost = 0

  constructor(options: Options | undefined) {
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
    const strict = this.strict
    let i = 0
    this.numStart = 0
    this.contentStart = -1
    while (i < n) {
      switch (this.state) {
        case S_STRING: {
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
              if (strict) break
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
          break
        }
        case S_VALUE: {
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i < n) i = this.startValue(i, c)
          break
        }
        case S_AFTER: {
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i === n) break
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
          } else if (c === 47 && !strict) {
            this.comment(S_AFTER)
            i++
          } else {
            i = this.fail(
              "UnexpectedCharacter",
              i,
              `expected "," or "${this.isArray[top] ? "]" : "}"}" but found ${show(c)}`
            )
          }
          break
        }
        case S_KEY: {
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i === n) break
          if (c === 34) {
            this.isKey = true
            this.acc = ""
            this.state = S_STRING
            this.contentStart = ++i
          } else if (c === 125) {
            if (this.afterComma && strict) {
              i = this.fail("TrailingComma", i, "\"}\" after \",\"")
            } else {
              this.close()
              i++
            }
          } else if (c === 47 && !strict) {
            this.comment(S_KEY)
            i++
          } else {
            i = this.fail("UnexpectedCharacter", i, `expected a key in double quotes but found ${show(c)}`)
          }
          break
        }
        case S_COLON: {
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i === n) break
          if (c === 58) {
            this.afterComma = false
            this.state = S_VALUE
            i++
          } else if (c === 47 && !strict) {
            this.comment(S_COLON)
            i++
          } else {
            i = this.fail("UnexpectedCharacter", i, `expected ":" after a key but found ${show(c)}`)
          }
          break
        }
        case S_NUMBER: {
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
            break
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
          break
        }
        case S_LITERAL: {
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
          break
        }
        case S_ESCAPE: {
          const c = chunk.charCodeAt(i)
          i++
          switch (c) {
            case 34:
              this.acc += "\""
              break
            case 92:
              this.acc += "\\"
              break
            case 47:
              this.acc += "/"
              break
            case 98:
              this.acc += "\b"
              break
            case 102:
              this.acc += "\f"
              break
            case 110:
              this.acc += "\n"
              break
            case 114:
              this.acc += "\r"
              break
            case 116:
              this.acc += "\t"
              break
            case 117:
              this.unicodeCount = 0
              this.unicodeCode = 0
              this.state = S_UNICODE
              continue
            default:
              this.state = S_STRING
              i = this.fail("InvalidEscape", i - 1, `"\\${String.fromCharCode(c)}" is not a JSON escape`)
              continue
          }
          this.state = S_STRING
          break
        }
        case S_UNICODE: {
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
          break
        }
        case S_DONE: {
          if (!strict || this.extract) {
            i = n
            break
          }
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i < n) i = this.fail("TrailingContent", i, `${show(c)} after the root value`)
          break
        }
        case S_ERROR: {
          i = n
          break
        }
        case S_START: {
          let c = chunk.charCodeAt(i)
          while (isBlank(c) && ++i < n) c = chunk.charCodeAt(i)
          if (i === n) break
          if (
            c === 123 || c === 91 || c === 34 || c === 45 || (c >= 48 && c <= 57) || c === 116 || c === 102 ||
            c === 110
          ) {
            this.state = S_VALUE
          } else {
            this.ticks = 0
            this.state = S_PROSE
          }
          break
        }
        case S_PROSE: {
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
          break
        }
        case S_FENCE_INFO: {
          let c = chunk.charCodeAt(i)
          while ((isWordChar(c) || c === 43 || c === 45 || c === 46 || c === 35) && ++i < n) c = chunk.charCodeAt(i)
          if (i < n) this.state = S_START
          break
        }
        case S_SLASH: {
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
          break
        }
        case S_LINE_COMMENT: {
          while (i < n && chunk.charCodeAt(i) !== 10) i++
          if (i < n) {
            this.state = this.resume
            i++
          }
          break
        }
        case S_BLOCK_COMMENT: {
          while (i < n && chunk.charCodeAt(i) !== 42) i++
          if (i < n) {
            this.state = S_BLOCK_STAR
            i++
          }
          break
        }
        case S_BLOCK_STAR: {
          const c = chunk.charCodeAt(i)
          if (c === 47) this.state = this.resume
          else if (c !== 42) this.state = S_BLOCK_COMMENT
          i++
          break
        }
      }
    }
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

  isComplete(path: Path): boolean {
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
