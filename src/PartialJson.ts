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
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as internal from "./internal/partialJson/parser.js"
import { streamChannel } from "./internal/partialJson/stream.js"
import type { PartialJsonError } from "./PartialJsonError.js"

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
export const TypeId: unique symbol = internal.TypeId

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
   * Whether taking a `snapshot` now keeps the total cost of snapshots linear in the document: true while the open
   * containers hold at most 128 elements and keys, else once the text fed since the last snapshot is at least twice
   * their size beyond those 128 (snapshots then copy at most half an element per character overall). So it is true
   * after every chunk while the open containers are small, and every so many chunks while a long list is being
   * filled: snapshotting "when due" costs O(document) where snapshotting after every chunk costs
   * O(chunks × list length).
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
export const make = (options?: Options | undefined): Parser => new internal.ParserImpl(options)

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
  const parser = new internal.ParserImpl(options === undefined ? undefined : { ...options, strict: false })
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
  const parser = new internal.ParserImpl({ ...options, strict: true })
  parser.feed(text)
  const value = parser.end()
  return parser.error === undefined ? Either.right(value) : Either.left(parser.error)
}

/**
 * Parses a stream of text chunks into a stream of values: after a chunk the current value is emitted if it changed
 * and a snapshot is due (`Parser.snapshotDue`), and the final value is always emitted. Each emission is a
 * `snapshot`: an independent value, safe to keep, that shares the completed subtrees with the others. While the open
 * containers are small, that is after every chunk that changes the value; while a long list is being filled,
 * emissions thin out as it grows, so the whole stream costs O(document), not O(chunks × list length). Values are
 * emitted in small batches (a few thousand copied slots each), so that snapshots the consumer drops die young. In
 * strict mode the stream fails with the `PartialJsonError` at the first malformation, after the values before it; in
 * lenient mode it never fails on its own.
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
    Stream.suspend(() => Stream.pipeThroughChannel(self, streamChannel<E>(new internal.ParserImpl(options))))
)
