/**
 * A Server-Sent Events decoder that follows the WHATWG HTML "event stream interpretation" rules.
 *
 * - Lines end with LF, CR or CRLF, also when a CRLF is split across two chunks.
 * - Exactly one leading U+FEFF (byte-order mark) is stripped from the start of a stream, even when its three bytes
 *   arrive in separate chunks; a second one, or one later in the stream, is kept (and so makes its line an unknown
 *   field). Bytes are decoded as UTF-8 by a streaming `TextDecoder` with `ignoreBOM: true`, so that a multibyte
 *   character split across chunks is decoded once and the decoder never strips a BOM of its own.
 * - `data:` with or without the space (only one leading U+0020 is stripped from any value), multi-line data joined
 *   with LF, `event`, `id` (ignored when it contains NUL), `retry` (ASCII digits only, otherwise ignored), comments
 *   (`:` lines) and unknown fields (ignored unless an `onField` listener
 *   reads them; field names are case-sensitive).
 * - A block dispatches an event only when it is ended by a blank line and has at least one `data` field; the
 *   unterminated last block of a stream is discarded.
 *
 * `id` semantics: by default (`idScope: "stream"`) an event's `id` is the EventSource `lastEventId`: it persists
 * across events until the server sets it again (`id:` with an empty value resets it to `""`), is also updated by
 * blocks that carry no data, and is `undefined` until the first `id` field. With `idScope: "block"` it is the `id`
 * field of the event's own block, `undefined` when the block has none (the parser-level semantics of
 * `eventsource-parser`).
 *
 * The decoder is hand-written rather than built on `eventsource-parser` (the most used npm parser): that library
 * fails the launchdarkly and WPT byte-order-mark vectors (an empty first chunk disables BOM stripping, and a default
 * `TextDecoder` in front of it strips two BOMs where only one may go), and the hot path here scans each decoded
 * chunk with `indexOf` and slices line ranges, with no per-byte work and one `Effect` step per chunk.
 *
 * WHATWG parsing never fails. The only failure is the memory guard: a line or a block's data that grows beyond
 * `maxBufferSize` characters while waiting for the rest of it fails with {@link SseError}. Lines that can no longer
 * become a known field (an unknown field, a comment nobody listens to) are skipped without being buffered, so a
 * server that sends an HTML error page or a stream of garbage without line breaks cannot exhaust memory.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as StreamDecoder from "./internal/streamDecoder.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/SseError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why an {@link SseError} was raised.
 *
 * @example
 * ```ts
 * import type * as Sse from "sluice/Sse"
 *
 * const reason: Sse.ErrorReason = "BufferOverflow"
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
 * import * as Sse from "sluice/Sse"
 *
 * Schema.is(Sse.ErrorReason)("BufferOverflow") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorReason = Schema.Literal("BufferOverflow")

/**
 * The event stream could not be decoded. The only reason is `BufferOverflow`: an incomplete line, or the data of a
 * block that has not ended yet, grew beyond `maxBufferSize` characters.
 *
 * @example
 * ```ts
 * import * as Sse from "sluice/Sse"
 *
 * const error = new Sse.SseError({ reason: "BufferOverflow", maxBufferSize: 16 })
 * error.isRetryable // false
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SseError extends Schema.TaggedError<SseError>("sluice/SseError")("SseError", {
  reason: ErrorReason,
  maxBufferSize: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * A stream that overflowed once will overflow again.
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
    return `SSE buffer overflow: a line or an event's data exceeded ${this.maxBufferSize} characters`
  }
}

/**
 * Tells whether a value is an {@link SseError}.
 *
 * @example
 * ```ts
 * import * as Sse from "sluice/Sse"
 *
 * Sse.isSseError(new Sse.SseError({ reason: "BufferOverflow", maxBufferSize: 1 })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSseError = (u: unknown): u is SseError => Predicate.hasProperty(u, TypeId)

/**
 * One dispatched event.
 *
 * - `event`: the event type, `"message"` when the block had no (or an empty) `event` field;
 * - `data`: the block's `data` lines joined with LF;
 * - `id`: the last event id (see the module documentation for `idScope`);
 * - `retry`: the reconnection time in milliseconds, when the event's own block carried a valid `retry` field.
 *
 * @example
 * ```ts
 * import type * as Sse from "sluice/Sse"
 *
 * const event: Sse.Event = { event: "message", data: "{\"ok\":true}", id: undefined }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Event {
  readonly event: string
  readonly data: string
  readonly id: string | undefined
  readonly retry?: number
}

/**
 * Options of the decoder.
 *
 * - `idScope`: `"stream"` (default, EventSource `lastEventId` semantics) or `"block"`;
 * - `maxBufferSize`: the most characters held while waiting for the rest of a line or of a block's data
 *   (default {@link defaultMaxBufferSize}; `Infinity` turns the guard off).
 *
 * @example
 * ```ts
 * import type * as Sse from "sluice/Sse"
 *
 * const options: Sse.DecodeOptions = { idScope: "block", maxBufferSize: 1024 * 1024 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  readonly idScope?: "stream" | "block" | undefined
  readonly maxBufferSize?: number | undefined
}

/**
 * Options of {@link makeParser}: those of the decoder, plus synchronous listeners for comments (the text after the
 * colon, one leading space stripped), for valid `retry` fields (also those of blocks that dispatch no event) and for
 * the fields the standard does not know (`onField`: the name and the value, e.g. llama.cpp's server sends its errors
 * as an `error:` field). Comments and unknown fields are skipped without being buffered when nobody listens.
 *
 * @example
 * ```ts
 * import type * as Sse from "sluice/Sse"
 *
 * const heartbeats: Array<string> = []
 * const options: Sse.ParserOptions = { onComment: (text) => heartbeats.push(text) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ParserOptions extends DecodeOptions {
  readonly onComment?: ((text: string) => void) | undefined
  readonly onRetry?: ((millis: number) => void) | undefined
  readonly onField?: ((name: string, value: string) => void) | undefined
}

/**
 * The pure, synchronous, incremental decoder behind {@link decode}, for hot paths that want to do their own
 * per-chunk work (for example `JSON.parse` of every event) in one step.
 *
 * - `feed(chunk)` decodes a chunk of bytes (UTF-8) or of text and returns the events it completed. Do not mix bytes
 *   and text in one stream: a multibyte character split across byte chunks waits in the byte decoder.
 * - `end()` closes the current connection: the unterminated last block is discarded (so it returns no event under
 *   WHATWG rules; it exists so that callers can flush every decoder alike), and the parser is ready for the next
 *   connection (a new leading BOM is stripped again). `lastEventId` and `retry` persist, as in an EventSource.
 * - `reset()` also forgets `lastEventId` and `retry`.
 * - `lastEventId` is the EventSource last event id (`undefined` before any `id` field was dispatched) and `retry`
 *   the last valid reconnection time.
 * - `error` is set when the buffer guard tripped; `feed` then ignores its input until `end()` or `reset()`.
 *
 * @example
 * ```ts
 * import * as Sse from "sluice/Sse"
 *
 * const parser = Sse.makeParser()
 * parser.feed("data: hel") // []
 * parser.feed("lo\n\n") // [{ event: "message", data: "hello", id: undefined }]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Parser {
  readonly feed: (chunk: Uint8Array | string) => ReadonlyArray<Event>
  readonly end: () => ReadonlyArray<Event>
  readonly reset: () => void
  readonly lastEventId: string | undefined
  readonly retry: number | undefined
  readonly error: SseError | undefined
}

/**
 * The default `maxBufferSize`: 16 Mi characters, room for the largest single events seen in practice (base64 image
 * chunks of the Responses API) while bounding what a misbehaving server can make the decoder hold.
 *
 * @example
 * ```ts
 * import * as Sse from "sluice/Sse"
 *
 * Sse.defaultMaxBufferSize // 16777216
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultMaxBufferSize: number = 16 * 1024 * 1024

/**
 * Creates an incremental parser (see {@link Parser}).
 *
 * @example
 * ```ts
 * import * as Sse from "sluice/Sse"
 *
 * const parser = Sse.makeParser({ idScope: "block" })
 * const events = [
 *   ...parser.feed(new TextEncoder().encode("id: 1\ndata: a\n\n")),
 *   ...parser.feed(new TextEncoder().encode("data: b\n\n")),
 *   ...parser.end()
 * ]
 * // [{ event: "message", data: "a", id: "1" }, { event: "message", data: "b", id: undefined }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeParser = (options?: ParserOptions | undefined): Parser => new ParserImpl(options)

/**
 * Decodes a stream of bytes (an HTTP response body) into events, with the default options. Every incoming chunk
 * costs one step, and the events it completes leave as one chunk. Fails only with {@link SseError} when the buffer
 * guard trips, after the events decoded before it. Use {@link decodeWith} to pass options.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Sse from "sluice/Sse"
 *
 * const bytes = Stream.make(new TextEncoder().encode("data: {\"n\":1}\n\nda"), new TextEncoder().encode("ta: 2\n\n"))
 * const events = bytes.pipe(Sse.decode) // data "{\"n\":1}", then "2"
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decode = <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Event, E | SseError, R> =>
  decodeStream(self, undefined)

/**
 * Decodes a stream of bytes into events, as {@link decode} does, with options.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Sse from "sluice/Sse"
 *
 * const bytes = Stream.make(new TextEncoder().encode("id: 1\ndata: a\n\ndata: b\n\n"))
 * const events = bytes.pipe(Sse.decodeWith({ idScope: "block", maxBufferSize: 1024 * 1024 }))
 * // ids "1", then undefined
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeWith: {
  (options: DecodeOptions): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Event, E | SseError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: DecodeOptions): Stream.Stream<Event, E | SseError, R>
} = dual(
  2,
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: DecodeOptions) => decodeStream(self, options)
)

/**
 * Decodes a stream of text chunks into events, as {@link decode} does for bytes.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Sse from "sluice/Sse"
 *
 * const events = Stream.make("event: ping\nda", "ta: 1\r\n\r\n").pipe(Sse.decodeText)
 * // [{ event: "ping", data: "1", id: undefined }]
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeText = <E, R>(self: Stream.Stream<string, E, R>): Stream.Stream<Event, E | SseError, R> =>
  decodeStream(self, undefined)

/**
 * Decodes a stream of text chunks into events, as {@link decodeText} does, with options.
 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import * as Sse from "sluice/Sse"
 *
 * const events = Stream.make("id: 1\ndata: a\n\n").pipe(Sse.decodeTextWith({ idScope: "block" }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodeTextWith: {
  (options: DecodeOptions): <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<Event, E | SseError, R>
  <E, R>(self: Stream.Stream<string, E, R>, options: DecodeOptions): Stream.Stream<Event, E | SseError, R>
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
): Stream.Stream<Event, E | SseError, R> => StreamDecoder.decode(self, () => new ParserImpl(options))

const LF = 10
const SPACE = 32
const COLON = 58
const BOM = 0xfeff

const isField = (s: string, start: number, end: number, name: string): boolean => {
  const after = start + name.length
  return after <= end && s.startsWith(name, start) && (after === end || s.charCodeAt(after) === COLON)
}

/** The text from `start` to `end`, one leading space stripped. */
const textFrom = (s: string, start: number, end: number): string => {
  if (start < end && s.charCodeAt(start) === SPACE) start++
  return start >= end ? "" : s.slice(start, end)
}

/** The value of a field whose name ends at `nameEnd` (at a colon, or at the end of the line). */
const valueOf = (s: string, nameEnd: number, end: number): string =>
  nameEnd === end ? "" : textFrom(s, nameEnd + 1, end)

/** Whether an incomplete line can still become a known field: `name` itself, a prefix of it, or `name:…`. */
const mayBeField = (line: string, name: string): boolean =>
  line.length <= name.length
    ? name.startsWith(line)
    : line.startsWith(name) && line.charCodeAt(name.length) === COLON

const isDigits = (s: string): boolean => {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

class ParserImpl implements Parser {
  private readonly blockIds: boolean
  private readonly maxBufferSize: number
  private readonly onComment: ((text: string) => void) | undefined
  private readonly onRetry: ((millis: number) => void) | undefined
  private readonly onField: ((name: string, value: string) => void) | undefined
  private decoder: TextDecoder | undefined = undefined
  private out: Array<Event> = []
  /** Whether the first non-empty text of the connection (where a BOM may be) has been seen. */
  private started = false
  /** The incomplete last line of the previous chunks. */
  private pending = ""
  /** The previous chunk ended with a CR: a LF at the start of the next one belongs to it. */
  private skipLF = false
  /** The incomplete last line cannot matter: skip up to the next line break. */
  private discarding = false
  private data: string | undefined = undefined
  private type = ""
  private blockId: string | undefined = undefined
  private blockRetry: number | undefined = undefined
  private idBuffer: string | undefined = undefined
  lastEventId: string | undefined = undefined
  retry: number | undefined = undefined
  error: SseError | undefined = undefined

  constructor(options: ParserOptions | undefined) {
    this.blockIds = options?.idScope === "block"
    this.maxBufferSize = options?.maxBufferSize ?? defaultMaxBufferSize
    this.onComment = options?.onComment
    this.onRetry = options?.onRetry
    this.onField = options?.onField
  }

  readonly feed = (chunk: Uint8Array | string): ReadonlyArray<Event> => {
    const out: Array<Event> = []
    this.push(chunk, out)
    return out
  }

  readonly end = (): ReadonlyArray<Event> => {
    if (this.decoder !== undefined) this.decoder.decode()
    this.started = false
    this.pending = ""
    this.skipLF = false
    this.discarding = false
    this.data = undefined
    this.type = ""
    this.blockId = undefined
    this.blockRetry = undefined
    this.idBuffer = this.lastEventId
    this.error = undefined
    return []
  }

  readonly reset = (): void => {
    this.end()
    this.decoder = undefined
    this.idBuffer = undefined
    this.lastEventId = undefined
    this.retry = undefined
  }

  push(chunk: Uint8Array | string, out: Array<Event>): void {
    if (this.error !== undefined) return
    this.out = out
    if (typeof chunk === "string") {
      this.text(chunk)
    } else {
      this.decoder ??= new TextDecoder("utf-8", { ignoreBOM: true })
      this.text(this.decoder.decode(chunk, { stream: true }))
    }
  }

  private text(t: string): void {
    let len = t.length
    if (len === 0) return
    if (!this.started) {
      this.started = true
      if (t.charCodeAt(0) === BOM) {
        t = t.slice(1)
        if (--len === 0) return
      }
    }
    let pos = 0
    if (this.skipLF) {
      this.skipLF = false
      if (t.charCodeAt(0) === LF) pos = 1
    }
    let lf = t.indexOf("\n", pos)
    let cr = t.indexOf("\r", pos)
    if (this.discarding) {
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      if (end === -1) return
      this.discarding = false
      pos = this.afterBreak(t, end, cr)
    }
    while (true) {
      if (lf !== -1 && lf < pos) lf = t.indexOf("\n", pos)
      if (cr !== -1 && cr < pos) cr = t.indexOf("\r", pos)
      let end: number
      if (lf === -1) {
        if (cr === -1) break
        end = cr
      } else {
        end = cr !== -1 && cr < lf ? cr : lf
      }
      if (this.pending.length === 0) {
        this.line(t, pos, end)
      } else {
        const line = this.pending + t.slice(pos, end)
        this.pending = ""
        this.line(line, 0, line.length)
      }
      if (this.error !== undefined) return
      pos = this.afterBreak(t, end, cr)
    }
    if (pos < len) this.hold(pos === 0 ? t : t.slice(pos))
  }

  /** The position after the line break at `end`, a CRLF counting as one (also when split across chunks). */
  private afterBreak(t: string, end: number, cr: number): number {
    const next = end + 1
    if (end !== cr) return next
    if (next < t.length) return t.charCodeAt(next) === LF ? next + 1 : next
    this.skipLF = true
    return next
  }

  private hold(rest: string): void {
    const line = this.pending.length === 0 ? rest : this.pending + rest
    const first = line.charCodeAt(0)
    const matters = first === COLON
      ? this.onComment !== undefined
      : this.onField !== undefined ||
        mayBeField(line, "data") || mayBeField(line, "event") || mayBeField(line, "id") || mayBeField(line, "retry")
    if (!matters) {
      this.pending = ""
      this.discarding = true
      return
    }
    this.pending = line
    if (line.length + (this.data === undefined ? 0 : this.data.length) > this.maxBufferSize) this.overflow()
  }

  private overflow(): void {
    this.error = new SseError({ reason: "BufferOverflow", maxBufferSize: this.maxBufferSize })
    this.pending = ""
    this.data = undefined
  }

  private line(s: string, start: number, end: number): void {
    if (start === end) return this.dispatch()
    switch (s.charCodeAt(start)) {
      case COLON: {
        if (this.onComment !== undefined) this.onComment(textFrom(s, start + 1, end))
        return
      }
      case 100: {
        if (isField(s, start, end, "data")) {
          const value = valueOf(s, start + 4, end)
          const data = this.data === undefined ? value : this.data + "\n" + value
          this.data = data
          if (data.length > this.maxBufferSize) this.overflow()
          return
        }
        break
      }
      case 101: {
        if (isField(s, start, end, "event")) {
          this.type = valueOf(s, start + 5, end)
          return
        }
        break
      }
      case 105: {
        if (isField(s, start, end, "id")) {
          const value = valueOf(s, start + 2, end)
          if (value.indexOf("\0") === -1) {
            this.idBuffer = value
            this.blockId = value
          }
          return
        }
        break
      }
      case 114: {
        if (isField(s, start, end, "retry")) {
          const value = valueOf(s, start + 5, end)
          if (isDigits(value)) {
            const millis = Number(value)
            this.retry = millis
            this.blockRetry = millis
            if (this.onRetry !== undefined) this.onRetry(millis)
          }
          return
        }
        break
      }
    }
    if (this.onField !== undefined) {
      const colon = s.indexOf(":", start)
      const nameEnd = colon === -1 || colon > end ? end : colon
      this.onField(s.slice(start, nameEnd), valueOf(s, nameEnd, end))
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer
    const data = this.data
    if (data !== undefined) {
      const event = this.type === "" ? "message" : this.type
      const id = this.blockIds ? this.blockId : this.idBuffer
      const retry = this.blockRetry
      this.out.push(retry === undefined ? { event, data, id } : { event, data, id, retry })
      this.data = undefined
    }
    this.type = ""
    this.blockId = undefined
    this.blockRetry = undefined
  }
}
