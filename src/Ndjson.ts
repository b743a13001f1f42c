/**
 * A newline-delimited JSON (NDJSON, JSON Lines) decoder: bytes or text in, one parsed JSON value per line out.
 *
 * - Lines end with LF; a CR before the LF is dropped (CRLF), also when the two arrive in separate chunks.
 * - A line split across any number of chunks is joined once, when its LF arrives; a multibyte character split across
 *   byte chunks is decoded once by a streaming UTF-8 `TextDecoder`, which also drops one leading byte-order mark.
 * - Blank lines (empty or only spaces and tabs) are skipped, but counted in line numbers.
 * - The last line needs no LF: it is parsed when the stream ends.
 * - A line that is not JSON fails the decoder with {@link NdjsonError} (`MalformedLine`), carrying the raw line and its
 *   1-based line number, after the values of the lines before it. The stream fails rather than skipping the line,
 *   because a consumer such as an LLM engine cannot trust a stream that lost a line: it maps the typed error to its
 *   own (`Stream.mapError`, `Stream.catchTag("NdjsonError", …)`). A line longer than `maxLineLength` characters fails
 *   with `LineTooLong` instead of being buffered without limit.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as StreamDecoder from "./internal/streamDecoder.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/NdjsonError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an {@link NdjsonError} was raised.
 *
 * @example
 * ```ts
 * import type * as Ndjson from "sluice/Ndjson"
 *
 * const reason: Ndjson.ErrorReason = "MalformedLine"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorReason = typeof ErrorReason.Type

/**
 * The schema of {@link ErrorReason}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as Ndjson from "sluice/Ndjson"
 *
 * Schema.is(Ndjson.ErrorReason)("MalformedLine") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorReason = Schema.Literal("MalformedLine", "LineTooLong")

/**
 * A line could not be decoded:
 *
 * - `MalformedLine`: the line is not JSON; `line` is the raw line (without its line break), `description` the
 *   `JSON.parse` message;
 * - `LineTooLong`: the line exceeds `maxLineLength` characters; `line` holds its first 1,024 characters.
 *
 * @example
 * ```ts
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const error = new Ndjson.NdjsonError({
 *   reason: "MalformedLine",
 *   line: "{\"done\":fa",
 *   lineNumber: 3,
 *   description: "Unexpected end of JSON input"
 * })
 * error.message // "NDJSON line 3 is not JSON (Unexpected end of JSON input): {\"done\":fa"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NdjsonError extends Schema.TaggedError<NdjsonError>("sluice/NdjsonError")("NdjsonError", {
  reason: ErrorReason,
  line: Schema.String,
  lineNumber: Schema.Number,
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * The same bytes decode the same way again.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return false
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const line = this.line.length > 200 ? `${this.line.slice(0, 200)}…` : this.line
    return this.reason === "MalformedLine"
      ? `NDJSON line ${this.lineNumber} is not JSON (${this.description}): ${line}`
      : `NDJSON line ${this.lineNumber} is too long (${this.description}): ${line}`
  }
}

/**
 * Tells whether a value is an {@link NdjsonError}.
 *
 * @example
 * ```ts
 * import * as Ndjson from "sluice/Ndjson"
 *
 * Ndjson.isNdjsonError(new Error("no")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isNdjsonError = (u: unknown): u is NdjsonError => Predicate.hasProperty(u, TypeId)

/**
 * Options of the decoder: `maxLineLength`, the longest line accepted, in characters (default
 * {@link defaultMaxLineLength}; `Infinity` turns the guard off).
 *
 * @example
 * ```ts
 * import type * as Ndjson from "sluice/Ndjson"
 *
 * const options: Ndjson.DecodeOptions = { maxLineLength: 1024 * 1024 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  readonly maxLineLength?: number | undefined
}

/**
 * The pure, synchronous, incremental decoder behind {@link decode}.
 *
 * - `feed(chunk)` decodes a chunk of bytes (UTF-8) or of text and returns the values of the lines it completed. Do
 *   not mix bytes and text in one stream.
 * - `end()` parses the last line (which needs no line break), returns its value if any and makes the parser ready
 *   for a new stream.
 * - `error` is set by the first bad line; `feed` then ignores its input, and `end()` returns nothing (and makes the
 *   parser ready for a new stream).
 * - `lineNumber` is the number of lines completed so far.
 *
 * @example
 * ```ts
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const parser = Ndjson.makeParser()
 * parser.feed("{\"a\":1}\n{\"a\"") // [{ a: 1 }]
 * parser.feed(":2}") // []
 * parser.end() // [{ a: 2 }]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Parser {
  readonly feed: (chunk: Uint8Array | string) => ReadonlyArray<unknown>
  readonly end: () => ReadonlyArray<unknown>
  readonly error: NdjsonError | undefined
  readonly lineNumber: number
}

/**
 * The default `maxLineLength`: 16 Mi characters.
 *
 * @example
 * ```ts
 * import * as Ndjson from "sluice/Ndjson"
 *
 * Ndjson.defaultMaxLineLength // 16777216
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultMaxLineLength: number = 16 * 1024 * 1024

/**
 * Creates an incremental parser (see {@link Parser}).
 *
 * @example
 * ```ts
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const parser = Ndjson.makeParser({ maxLineLength: 1024 })
 * parser.feed(new TextEncoder().encode("{\"response\":\"Hi\"}\r\n\r\n{\"done\":true}\n")) // [{ response: "Hi" }, { done: true }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeParser = (options?: DecodeOptions | undefined): Parser => new ParserImpl(options)

/**
 * Decodes a stream of bytes (an HTTP response body) into one JSON value per line. Every incoming chunk costs one
 * step, and the values it completes leave as one chunk. Fails with {@link NdjsonError} at the first bad line, after
 * the values before it. Use {@link decodeWith} to pass options.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const body = Stream.make(new TextEncoder().encode("{\"response\":\"Hel\"}\n{\"resp"), new TextEncoder().encode("onse\":\"lo\"}\n"))
 * const values = body.pipe(Ndjson.decode) // { response: "Hel" }, { response: "lo" }
 * const safe = values.pipe(Stream.catchTag("NdjsonError", (e) => Stream.fail(`bad line ${e.lineNumber}: ${e.line}`)))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decode = <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<unknown, E | NdjsonError, R> =>
  decodeStream(self, undefined)

/**
 * Decodes a stream of bytes into JSON values, as {@link decode} does, with options.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const values = Stream.make(new TextEncoder().encode("1\n2\n")).pipe(Ndjson.decodeWith({ maxLineLength: 1024 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeWith: {
  (options: DecodeOptions): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<unknown, E | NdjsonError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: DecodeOptions): Stream.Stream<unknown, E | NdjsonError, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: DecodeOptions) => decodeStream(self, options)
)

/**
 * Decodes a stream of text chunks into JSON values, as {@link decode} does for bytes.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const values = Stream.make("{\"a\":", "1}\n{\"a\":2}").pipe(Ndjson.decodeText) // { a: 1 }, { a: 2 }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeText = <E, R>(self: Stream.Stream<string, E, R>): Stream.Stream<unknown, E | NdjsonError, R> =>
  decodeStream(self, undefined)

/**
 * Decodes a stream of text chunks into JSON values, as {@link decodeText} does, with options.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Ndjson from "sluice/Ndjson"
 *
 * const values = Stream.make("1\n2\n").pipe(Ndjson.decodeTextWith({ maxLineLength: 16 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeTextWith: {
  (options: DecodeOptions): <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<unknown, E | NdjsonError, R>
  <E, R>(self: Stream.Stream<string, E, R>, options: DecodeOptions): Stream.Stream<unknown, E | NdjsonError, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<string, E, R>, options: DecodeOptions) => decodeStream(self, options)
)

// =============================================================================
// internal
// =============================================================================

const decodeStream = <E, R>(
  self: Stream.Stream<Uint8Array | string, E, R>,
  options: DecodeOptions | undefined
): Stream.Stream<unknown, E | NdjsonError, R> => StreamDecoder.decode(self, () => new ParserImpl(options))

const CR = 13
const TAB = 9
const SPACE = 32
const BOM = 0xfeff
const SHOWN = 1024

const isBlank = (s: string): boolean => {
  if (s.length === 0) return true
  const first = s.charCodeAt(0)
  return (first === SPACE || first === TAB) && s.trim().length === 0
}

class ParserImpl implements Parser {
  private readonly maxLineLength: number
  private decoder: TextDecoder | undefined = undefined
  private started = false
  /** The incomplete last line of the previous chunks. */
  private pending = ""
  lineNumber = 0
  error: NdjsonError | undefined = undefined

  constructor(options: DecodeOptions | undefined) {
    this.maxLineLength = options?.maxLineLength ?? defaultMaxLineLength
  }

  readonly feed = (chunk: Uint8Array | string): ReadonlyArray<unknown> => {
    const out: Array<unknown> = []
    this.push(chunk, out)
    return out
  }

  readonly end = (): ReadonlyArray<unknown> => {
    const out: Array<unknown> = []
    this.finish(out)
    this.decoder = undefined
    this.started = false
    this.pending = ""
    this.lineNumber = 0
    this.error = undefined
    return out
  }

  push(chunk: Uint8Array | string, out: Array<unknown>): void {
    if (this.error !== undefined) return
    if (typeof chunk === "string") {
      this.text(chunk, out)
    } else {
      this.decoder ??= new TextDecoder("utf-8")
      this.text(this.decoder.decode(chunk, { stream: true }), out)
    }
  }

  /** Parses the unterminated last line, if any. */
  finish(out: Array<unknown>): void {
    if (this.error !== undefined) return
    if (this.decoder !== undefined) this.text(this.decoder.decode(), out)
    if (this.error !== undefined || this.pending.length === 0) return
    const line = this.pending
    this.pending = ""
    this.line(line, line.length, out)
  }

  private text(t: string, out: Array<unknown>): void {
    const len = t.length
    if (len === 0) return
    let pos = 0
    if (!this.started) {
      this.started = true
      if (t.charCodeAt(0) === BOM) pos = 1
    }
    let lf = t.indexOf("\n", pos)
    while (lf !== -1) {
      if (this.pending.length === 0) {
        this.line(t.slice(pos, lf), lf - pos, out)
      } else {
        const line = this.pending + t.slice(pos, lf)
        this.pending = ""
        this.line(line, line.length, out)
      }
      if (this.error !== undefined) return
      pos = lf + 1
      lf = t.indexOf("\n", pos)
    }
    if (pos < len) {
      const pending = this.pending.length === 0 ? (pos === 0 ? t : t.slice(pos)) : this.pending + t.slice(pos)
      if (pending.length > this.maxLineLength + 1) {
        this.tooLong(pending, this.lineNumber + 1)
        return
      }
      this.pending = pending
    }
  }

  private line(raw: string, length: number, out: Array<unknown>): void {
    const lineNumber = ++this.lineNumber
    const line = length > 0 && raw.charCodeAt(length - 1) === CR ? raw.slice(0, length - 1) : raw
    if (line.length > this.maxLineLength) return this.tooLong(line, lineNumber)
    if (isBlank(line)) return
    const parsed = Either.try({ try: () => JSON.parse(line) as unknown, catch: (e) => e })
    if (Either.isRight(parsed)) {
      out.push(parsed.right)
      return
    }
    const description = parsed.left instanceof Error ? parsed.left.message : String(parsed.left)
    this.error = new NdjsonError({ reason: "MalformedLine", line, lineNumber, description })
    this.pending = ""
  }

  private tooLong(line: string, lineNumber: number): void {
    this.error = new NdjsonError({
      reason: "LineTooLong",
      line: line.slice(0, SHOWN),
      lineNumber,
      description: `more than ${this.maxLineLength} characters`
    })
    this.pending = ""
  }
}
