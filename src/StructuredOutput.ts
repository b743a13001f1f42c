/**
 * Structured output: how a node asks an engine for a value of a `Schema`, and how it reads the reply as it streams.
 *
 * **The channel.** `@effect/ai`'s `LanguageModel.streamText` always asks the provider for text, so a node that wants
 * to *stream* a structured value sets the requested output schema in a `FiberRef` around the call, with
 * {@link withFormat}. sluice's engines read it with {@link requested} and send {@link jsonSchema} through their
 * backend's channel (OpenAI `response_format: json_schema`, vLLM structured outputs, Ollama `format`, or the prompt).
 * A request carrying `responseFormat: json` (from `generateObject`) wins over the `FiberRef`. Reading the format
 * with {@link requested} *confirms* it ({@link isConfirmed}): the engine promises to honour it. Engines that know
 * nothing of sluice ignore the `FiberRef` and never confirm; the node then puts the schema in the prompt
 * ({@link instruction}) and still validates what comes back.
 *
 * **JSON Schema.** {@link jsonSchema} is draft-07, inlined except where the schema is recursive (those definitions
 * stay under `$defs`); `{ strict: true }` gives the variant OpenAI's strict mode accepts (every property required,
 * optional ones nullable, `additionalProperties: false`), and {@link fromStrict} maps such a reply back (a `null`
 * for an optional field that does not accept `null` means "absent").
 *
 * **Reading a reply.** {@link makeDecoder} feeds the reply's text deltas to a `PartialJson` parser and keeps the
 * partial value with the paths that are complete, either as parsed (`"raw"`) or only the fields that are complete
 * and valid for their part of the schema (`"validated"`); at the end it decodes the value with the schema, or fails
 * with a {@link StructuredOutputError} holding the raw text and the issues.
 *
 * @since 0.1.0
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import { confirmed } from "./internal/confirmed.js"
import * as PartialJson from "./PartialJson.js"
import { type Issue, StructuredOutputError } from "./StructuredOutputError.js"

/**
 * A requested structured output: a name for the object and its schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import type * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const format: StructuredOutput.Format = { objectName: "person", schema: Schema.Struct({ name: Schema.String }) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Format {
  readonly objectName: string
  readonly schema: Schema.Schema.Any
}

/**
 * The structured output requested for model calls made by the current fiber.
 *
 * @example
 * ```ts
 * import { Effect, FiberRef } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const program = FiberRef.get(StructuredOutput.currentFormat)
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const currentFormat: FiberRef.FiberRef<Option.Option<Format>> = FiberRef.unsafeMake(Option.none())

/**
 * Requests a structured output for every model call made by a stream (e.g. `LanguageModel.streamText`).
 *
 * @example
 * ```ts
 * import { LanguageModel } from "@effect/ai"
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const Person = Schema.Struct({ name: Schema.String })
 * const parts = LanguageModel.streamText({ prompt: "Who?" }).pipe(
 *   StructuredOutput.withFormat({ objectName: "person", schema: Person })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withFormat: {
  (format: Format): <A, E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
  <A, E, R>(self: Stream.Stream<A, E, R>, format: Format): Stream.Stream<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Stream.Stream<A, E, R>, format: Format): Stream.Stream<A, E, R> =>
    Stream.unwrapScoped(Effect.as(Effect.locallyScoped(currentFormat, Option.some(format)), self))
)

/**
 * The structured output an engine should request from its backend for a call: the call's own `responseFormat`
 * when it is `json`, else the one set with {@link withFormat}, else none (plain text). Reading a format set with
 * {@link withFormat} confirms it (see {@link isConfirmed}): an engine calls this only when it will honour the
 * format, through its backend's channel or its prompt.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from "@effect/ai"
 * import { Effect } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * declare const options: LanguageModel.ProviderOptions
 * const program = Effect.map(StructuredOutput.requested(options), (format) => format._tag)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const requested = (options: LanguageModel.ProviderOptions): Effect.Effect<Option.Option<Format>> =>
  options.responseFormat.type === "json"
    ? Effect.succeed(
      Option.some({ objectName: options.responseFormat.objectName, schema: options.responseFormat.schema })
    )
    : current

/**
 * The format set with {@link withFormat} for the current fiber, marked as confirmed (see {@link isConfirmed}): for
 * engines that see the HTTP request rather than the `ProviderOptions`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const program = Effect.map(StructuredOutput.current, (format) => format._tag)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Option.Option<Format>> = Effect.map(FiberRef.get(currentFormat), (format) => {
  if (Option.isSome(format)) confirmed.add(format.value)
  return format
})

/**
 * Whether an engine read this format with {@link requested} (and so honours it). A node that set the format with
 * {@link withFormat} checks it after the call: an engine that did not confirm knows nothing of sluice, and the
 * schema must go in the prompt.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const format = { objectName: "o", schema: Schema.String }
 * StructuredOutput.isConfirmed(format) // false until an engine reads it
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const isConfirmed = (format: Format): boolean => confirmed.has(format)

// =============================================================================
// JSON Schema
// =============================================================================

/**
 * Options of {@link jsonSchema}: `strict` gives the variant of OpenAI's strict mode.
 *
 * @example
 * ```ts
 * import type * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const options: StructuredOutput.JsonSchemaOptions = { strict: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonSchemaOptions {
  readonly strict?: boolean | undefined
}

/**
 * The JSON Schema (draft-07, without `$schema`) of an output schema, as sent to backends.
 *
 * - Definitions are inlined, except those of recursive schemas, which stay under `$defs` and are referred to with
 *   `$ref: "#/$defs/Name"` (a recursive schema needs an `identifier` annotation on its suspended part, as Effect's
 *   `JSONSchema` requires).
 * - Optional fields are left out of `required`; unions are `anyOf`; literals are `enum`s; records are objects with
 *   `additionalProperties` (or `properties` for literal keys).
 * - Effect's internal markers (`$id: "/schemas/unknown"`, `$comment`) are dropped.
 *
 * With `{ strict: true }`, the schema follows OpenAI's strict mode: every object lists all its properties in
 * `required` and has `additionalProperties: false`, and an optional field becomes nullable (`anyOf` with
 * `{ "type": "null" }`) unless it already accepts `null` (then a `null` stays a `null`). Decode such a reply with {@link fromStrict} first (the
 * decoder of {@link makeDecoder} does). A record (an object with an `additionalProperties` schema) cannot be made
 * strict and is left as it is; strict mode also wants an object at the root.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const Person = Schema.Struct({ name: Schema.String, age: Schema.optional(Schema.Number) })
 * StructuredOutput.jsonSchema(Person)
 * // { type: "object", required: ["name"], properties: { name: { type: "string" }, age: { type: "number" } },
 * //   additionalProperties: false }
 * StructuredOutput.jsonSchema(Person, { strict: true })
 * // { type: "object", required: ["name", "age"], properties: { name: { type: "string" },
 * //   age: { anyOf: [{ type: "number" }, { type: "null" }] } }, additionalProperties: false }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const jsonSchema = (
  schema: Schema.Schema.Any,
  options?: JsonSchemaOptions | undefined
): JSONSchema.JsonSchema7Root => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const root = JSONSchema.fromAST(schema.ast, { definitions, topLevelReferenceStrategy: "skip" })
  const resolved = inlineDefinitions(root as unknown as Json, definitions as unknown as Record<string, Json>)
  const out = options?.strict === true ? toStrict(resolved) : resolved
  return out as unknown as JSONSchema.JsonSchema7Root
}

/**
 * The instruction a node adds to the system prompt when the engine does not take the schema through a channel of
 * its own: answer with one JSON value that conforms to the format's JSON Schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const text = StructuredOutput.instruction({ objectName: "person", schema: Schema.Struct({ name: Schema.String }) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const instruction = (format: Format): string =>
  `Respond with a single JSON value (no prose, no code fences) named "${format.objectName}" that conforms to this ` +
  `JSON Schema:\n${JSON.stringify(jsonSchema(format.schema))}`

/**
 * Maps a reply written under the strict JSON Schema (see {@link jsonSchema}) back to the schema's encoded shape:
 * an optional field whose value is `null` but whose schema does not accept `null` is removed. Values that need no
 * change are returned as they are (no copy).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const Person = Schema.Struct({ name: Schema.String, age: Schema.optional(Schema.Number) })
 * StructuredOutput.fromStrict(Person, { name: "Ada", age: null }) // { name: "Ada" }
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const fromStrict = (schema: Schema.Schema.Any, value: unknown): unknown => normalize(schema.ast, value)

// =============================================================================
// decoding
// =============================================================================

/**
 * What {@link makeDecoder} shows while a reply streams:
 *
 * - `"raw"`: the value as parsed so far (strings may be cut short), and every path that is complete;
 * - `"validated"`: only the values that are complete and valid for their part of the schema.
 *
 * @example
 * ```ts
 * import type * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const mode: StructuredOutput.PartialMode = "validated"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type PartialMode = "raw" | "validated"

/**
 * A partial structured value: `value` (a snapshot, safe to keep) and `complete`, the dotted paths (`"items.0.name"`,
 * `""` for the root) of the values that are complete. A complete container covers everything under it, so
 * `complete` lists only the complete paths that are not inside another complete path.
 *
 * @example
 * ```ts
 * import type * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const partial: StructuredOutput.Partial = { value: { items: [{ name: "a" }] }, complete: ["items.0"] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Partial {
  readonly value: unknown
  readonly complete: Array<string>
}

/**
 * Whether the value at a dotted path is complete according to a `complete` list (of a {@link Partial} or a
 * `PartialFields` event): the path itself, or a container around it, is listed.
 *
 * @example
 * ```ts
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * StructuredOutput.isCompleteAt(["title", "items.0"], "items.0.name") // true
 * StructuredOutput.isCompleteAt(["title", "items.0"], "items.1") // false
 * StructuredOutput.isCompleteAt([""], "anything") // true: the root is complete
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const isCompleteAt = (complete: ReadonlyArray<string>, path: string): boolean =>
  complete.some((done) => done === "" || done === path || path.startsWith(`${done}.`))

/**
 * Options of {@link makeDecoder}: the partial mode (`"raw"` by default, or `false` to keep no partial value),
 * and the object name given to errors.
 *
 * @example
 * ```ts
 * import type * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const options: StructuredOutput.DecoderOptions = { partial: "validated", objectName: "ticket" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DecoderOptions {
  readonly partial?: PartialMode | false | undefined
  readonly objectName?: string | undefined
}

/**
 * An incremental reader of a structured reply.
 *
 * - `feed(delta)` takes the next text delta and tells whether the partial value changed;
 * - `partial()` gives the current {@link Partial} (a snapshot);
 * - `finish(context)` ends the input and decodes the value with the schema: `Right` with the value, or `Left` with
 *   a {@link StructuredOutputError} (`InvalidJson` or `SchemaMismatch`) naming the attempt and the finish reason;
 *   after it, `feed` must not be called, and `changed` tells whether the end changed the partial value (a root
 *   number completes only at the end).
 *
 * In `"validated"` mode a path appears only once its value is complete and decodes with its part of the schema
 * (walking the schema: struct properties and index signatures, tuple and array elements, union members, through
 * suspensions, refinements and transformations); a value that appeared never changes. An array shows its valid
 * elements in order: an element that is invalid (and has no valid part) hides the elements after it. Values are
 * shown as the model wrote them (the encoded side), after {@link fromStrict}.
 *
 * Costs: the text is parsed once (linear time); a partial snapshot copies only the containers still open; in
 * `"validated"` mode every value is decoded once when it completes (and again as part of each container around it).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const decoder = StructuredOutput.makeDecoder(Schema.Struct({ name: Schema.String, age: Schema.Number }), {
 *   partial: "validated"
 * })
 * decoder.feed("{\"name\": \"Ad")   // false: nothing complete yet
 * decoder.feed("a\", \"age\": 3")    // true
 * decoder.partial()                 // { value: { name: "Ada" }, complete: ["name"] }
 * decoder.feed("6}")
 * decoder.finish({ attempt: 1 })    // Either.right({ name: "Ada", age: 36 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Decoder<A> {
  feed(delta: string): boolean
  partial(): Partial
  finish(context: {
    readonly attempt: number
    readonly finishReason?: string | undefined
  }): Either.Either<A, StructuredOutputError>
  readonly changed: boolean
  /** The text fed so far. */
  text(): string
}

/**
 * Makes a {@link Decoder} for a schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const decoder = StructuredOutput.makeDecoder(Schema.Struct({ tags: Schema.Array(Schema.String) }))
 * for (const delta of ["{\"tags\": [\"a", "\", \"b\"]}"]) decoder.feed(delta)
 * const result = decoder.finish({ attempt: 1 }) // Either.right({ tags: ["a", "b"] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDecoder = <A, I>(schema: Schema.Schema<A, I>, options?: DecoderOptions | undefined): Decoder<A> =>
  new DecoderImpl(schema, options)

/**
 * Decodes a whole reply (tolerantly parsed: text or fences around the JSON are skipped) with a schema, failing
 * with a {@link StructuredOutputError}.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import * as StructuredOutput from "sluice/StructuredOutput"
 *
 * const program = StructuredOutput.decode(Schema.Struct({ ok: Schema.Boolean }), "```json\n{\"ok\": true}\n```")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = <A, I>(
  schema: Schema.Schema<A, I>,
  text: string,
  options?: { readonly objectName?: string | undefined; readonly attempt?: number | undefined } | undefined
): Effect.Effect<A, StructuredOutputError> =>
  Effect.suspend(() => {
    const decoder = makeDecoder(schema, { partial: false, objectName: options?.objectName })
    decoder.feed(text)
    return decoder.finish({ attempt: options?.attempt ?? 1 })
  })

// =============================================================================
// internal: JSON Schema
// =============================================================================

type Json = null | boolean | number | string | Array<Json> | { [key: string]: Json }

const isRecord = (u: unknown): u is { [key: string]: Json } => typeof u === "object" && u !== null && !Array.isArray(u)

const refName = (ref: string): string | undefined =>
  ref.startsWith("#/$defs/")
    ? ref.slice(8).replace(/~1/g, "/").replace(/~0/g, "~")
    : undefined

const refsOf = (json: Json, out: Set<string>): Set<string> => {
  if (Array.isArray(json)) {
    for (const item of json) refsOf(item, out)
  } else if (isRecord(json)) {
    for (const key in json) {
      const value = json[key]!
      if (key === "$ref" && typeof value === "string") {
        const name = refName(value)
        if (name !== undefined) out.add(name)
      } else {
        refsOf(value, out)
      }
    }
  }
  return out
}

const inlineDefinitions = (root: Json, definitions: Record<string, Json>): Json => {
  const names = Object.keys(definitions)
  const edges = new Map(names.map((name) => [name, refsOf(definitions[name]!, new Set())]))
  const reaches = (from: string, target: string): boolean => {
    const seen = new Set<string>()
    const stack = [...(edges.get(from) ?? [])]
    while (stack.length > 0) {
      const name = stack.pop()!
      if (name === target) return true
      if (seen.has(name)) continue
      seen.add(name)
      for (const next of edges.get(name) ?? []) stack.push(next)
    }
    return false
  }
  const recursive = new Set(names.filter((name) => reaches(name, name)))
  const expand = (json: Json): Json => {
    if (Array.isArray(json)) return json.map(expand)
    if (!isRecord(json)) return json
    const ref = json.$ref
    if (typeof ref === "string") {
      const name = refName(ref)
      if (name !== undefined && !recursive.has(name) && definitions[name] !== undefined) {
        const { $ref: _, ...rest } = json
        const body = expand(definitions[name])
        return Object.keys(rest).length === 0 || !isRecord(body) ? body : { ...body, ...cleanMarkers(rest) }
      }
    }
    const out: { [key: string]: Json } = {}
    for (const key in json) {
      if (key === "$id" && typeof json[key] === "string" && json[key].startsWith("/schemas/")) continue
      if (key === "$comment") continue
      out[key] = expand(json[key]!)
    }
    return out
  }
  const body = expand(root)
  if (recursive.size === 0 || !isRecord(body)) return body
  const defs: { [key: string]: Json } = {}
  for (const name of names) if (recursive.has(name)) defs[name] = expand(definitions[name]!)
  return { ...body, $defs: defs }
}

const cleanMarkers = (json: { [key: string]: Json }): { [key: string]: Json } => {
  const out: { [key: string]: Json } = {}
  for (const key in json) if (key !== "$comment" && key !== "$id") out[key] = json[key]!
  return out
}

const acceptsNullJson = (json: Json): boolean => {
  if (!isRecord(json)) return json === true
  const type = json.type
  if (type === "null" || (Array.isArray(type) && type.includes("null"))) return true
  if (Array.isArray(json.enum) && json.enum.includes(null)) return true
  if (Array.isArray(json.anyOf)) return json.anyOf.some(acceptsNullJson)
  return type === undefined && json.$ref === undefined && json.anyOf === undefined && json.enum === undefined &&
    json.const === undefined
}

const toStrict = (json: Json): Json => {
  if (Array.isArray(json)) return json.map(toStrict)
  if (!isRecord(json)) return json
  const out: { [key: string]: Json } = {}
  for (const key in json) {
    const value = json[key]!
    out[key] = key === "properties" || key === "$defs" || key === "definitions"
      ? (isRecord(value) ? mapValues(value, toStrict) : value)
      : key === "enum" || key === "const" || key === "default" || key === "examples"
      ? value
      : toStrict(value)
  }
  if (json.type === "object" && isRecord(json.properties)) {
    const required = new Set(Array.isArray(json.required) ? json.required : [])
    const properties = out.properties as { [key: string]: Json }
    for (const name of Object.keys(properties)) {
      if (!required.has(name) && !acceptsNullJson(properties[name]!)) {
        properties[name] = { anyOf: [properties[name]!, { type: "null" }] }
      }
    }
    out.required = Object.keys(properties)
    if (out.additionalProperties === undefined || out.additionalProperties === true) out.additionalProperties = false
  }
  return out
}

const mapValues = (record: { [key: string]: Json }, f: (json: Json) => Json): { [key: string]: Json } => {
  const out: { [key: string]: Json } = {}
  for (const key in record) out[key] = f(record[key]!)
  return out
}

// =============================================================================
// internal: walking the schema
// =============================================================================

/** A path the schema does not have (an extra key, an index past a tuple). */
const EXCESS: unique symbol = Symbol.for("sluice/StructuredOutput/excess")

/** The schema of a child: its AST, `EXCESS`, or `undefined` when it has no schema of its own (inside a declaration). */
type Child = AST.AST | typeof EXCESS | undefined

const childCache = new WeakMap<AST.AST, Map<string | number, Child>>()

const childAst = (ast: AST.AST, key: string | number): Child => {
  switch (ast._tag) {
    case "Refinement":
    case "Transformation":
      return childAst(ast.from, key)
    case "Suspend":
      return childAst(ast.f(), key)
    case "TupleType": {
      if (typeof key !== "number") return EXCESS
      const element = ast.elements[key]
      if (element !== undefined) return element.type
      if (ast.rest.length === 0) return EXCESS
      return ast.rest.length === 1 ? ast.rest[0]!.type : AST.Union.make(ast.rest.map((rest) => rest.type))
    }
    case "UnknownKeyword":
    case "AnyKeyword":
      return ast
    case "Declaration":
      return undefined
    case "TypeLiteral":
    case "Union": {
      const cacheKey = typeof key === "number" && ast._tag === "Union" ? unionIndexKey(ast, key) : key
      let cache = childCache.get(ast)
      if (cache === undefined) {
        cache = new Map()
        childCache.set(ast, cache)
      }
      if (cache.has(cacheKey)) return cache.get(cacheKey)
      const child = ast._tag === "TypeLiteral" ? propertyAst(ast, key) : unionChild(ast, key)
      if (typeof cacheKey === "string" || cacheKey < 64) cache.set(cacheKey, child)
      return child
    }
    default:
      return EXCESS
  }
}

const unionIndexKey = (ast: AST.Union, index: number): string | number => {
  let fixed = 0
  for (const member of ast.types) {
    const tuple = unwrap(member)
    if (tuple._tag === "TupleType") fixed = Math.max(fixed, tuple.elements.length)
  }
  return index >= fixed ? "[rest]" : index
}

const unwrap = (ast: AST.AST): AST.AST => {
  let current = ast
  for (let i = 0; i < 100; i++) {
    if (current._tag === "Refinement" || current._tag === "Transformation") current = current.from
    else if (current._tag === "Suspend") current = current.f()
    else return current
  }
  return current
}

const propertyAst = (ast: AST.TypeLiteral, key: string | number): Child => {
  if (typeof key !== "string") return EXCESS
  for (const signature of ast.propertySignatures) if (signature.name === key) return signature.type
  for (const index of ast.indexSignatures) {
    if (ParseResult.is(Schema.make(index.parameter))(key)) return index.type
  }
  return EXCESS
}

const unionChild = (ast: AST.Union, key: string | number): Child => {
  const found: Array<AST.AST> = []
  for (const member of ast.types) {
    const child = childAst(member, key)
    if (child === undefined) return undefined
    if (child !== EXCESS && !found.includes(child)) found.push(child)
  }
  if (found.length === 0) return EXCESS
  return found.length === 1 ? found[0]! : AST.Union.make(found)
}

type Check = (u: unknown) => boolean

const checkCache = new WeakMap<AST.AST, Check>()

const checker = (ast: AST.AST): Check => {
  let check = checkCache.get(ast)
  if (check === undefined) {
    const decode = ParseResult.decodeUnknownEither(Schema.make(ast))
    check = (u) => Either.isRight(decode(u))
    checkCache.set(ast, check)
  }
  return check
}

const acceptsNull = (ast: AST.AST): boolean => checker(ast)(null)

const needsCache = new WeakMap<AST.AST, boolean>()

/** Whether a value of this schema may hold a `null` that {@link fromStrict} removes. */
const needsNormalize = (ast: AST.AST): boolean => {
  const cached = needsCache.get(ast)
  if (cached !== undefined) return cached
  const result = needs(ast, new Set())
  needsCache.set(ast, result)
  return result
}

const needs = (ast: AST.AST, seen: Set<AST.AST>): boolean => {
  switch (ast._tag) {
    case "Refinement":
    case "Transformation":
      return needs(ast.from, seen)
    case "Suspend": {
      if (seen.has(ast)) return false
      seen.add(ast)
      return needs(ast.f(), seen)
    }
    case "TypeLiteral":
      return ast.propertySignatures.some((signature) =>
        (signature.isOptional && !acceptsNull(signature.type)) || needs(signature.type, seen)
      ) || ast.indexSignatures.some((index) => needs(index.type, seen))
    case "TupleType":
      return ast.elements.some((element) => needs(element.type, seen)) ||
        ast.rest.some((rest) => needs(rest.type, seen))
    case "Union":
      return ast.types.some((member) => needs(member, seen))
    default:
      return false
  }
}

const normalize = (ast: AST.AST, value: unknown): unknown => {
  if (value === null || typeof value !== "object" || !needsNormalize(ast)) return value
  switch (ast._tag) {
    case "Refinement":
    case "Transformation":
      return normalize(ast.from, value)
    case "Suspend":
      return normalize(ast.f(), value)
    case "TypeLiteral": {
      if (Array.isArray(value)) return value
      const record = value as Record<string, unknown>
      let out: Record<string, unknown> | undefined
      for (const key of Object.keys(record)) {
        const item = record[key]
        const signature = ast.propertySignatures.find((s) => s.name === key)
        if (item === null && signature !== undefined && signature.isOptional && !acceptsNull(signature.type)) {
          out ??= { ...record }
          delete out[key]
          continue
        }
        const child = childAst(ast, key)
        if (child === undefined || child === EXCESS) continue
        const next = normalize(child, item)
        if (next !== item) {
          out ??= { ...record }
          out[key] = next
        }
      }
      return out ?? value
    }
    case "TupleType": {
      if (!Array.isArray(value)) return value
      let out: Array<unknown> | undefined
      for (let i = 0; i < value.length; i++) {
        const child = childAst(ast, i)
        if (child === undefined || child === EXCESS) continue
        const next = normalize(child, value[i])
        if (next !== value[i]) {
          out ??= value.slice()
          out[i] = next
        }
      }
      return out ?? value
    }
    case "Union": {
      for (const member of ast.types) {
        const next = normalize(member, value)
        if (next !== value && checker(member)(next)) return next
      }
      return value
    }
    default:
      return value
  }
}

// =============================================================================
// internal: the decoder
// =============================================================================

/**
 * The complete paths not inside another complete path, in completion order. Values complete in document order and
 * a container only after everything in it, so the paths inside a container that completes are the last ones listed:
 * each path is pushed once and popped at most once.
 */
class Completed {
  private readonly paths: Array<string> = []
  private readonly listed = new Set<string>()
  private copy: Array<string> | undefined = []

  has(path: string): boolean {
    return this.listed.has(path)
  }

  add(path: string): void {
    if (this.listed.has(path)) return
    const prefix = `${path}.`
    while (this.paths.length > 0) {
      const last = this.paths[this.paths.length - 1]!
      if (path !== "" && !last.startsWith(prefix)) break
      this.paths.pop()
      this.listed.delete(last)
    }
    this.paths.push(path)
    this.listed.add(path)
    this.copy = undefined
  }

  /** The list, as an array that is never mutated afterwards (shared until the list changes). */
  list(): Array<string> {
    if (this.copy === undefined) this.copy = this.paths.slice()
    return this.copy
  }
}

const dotted = (path: PartialJson.Path): string => path.length === 1 ? String(path[0]) : path.join(".")

const finalDecoders = new WeakMap<AST.AST, (u: unknown) => Either.Either<any, ParseResult.ParseIssue>>()

/** The decoder of a whole value, built once per schema. */
const finalDecoder = <A, I>(schema: Schema.Schema<A, I>): (u: unknown) => Either.Either<A, ParseResult.ParseIssue> => {
  let decode = finalDecoders.get(schema.ast)
  if (decode === undefined) {
    decode = ParseResult.decodeUnknownEither(schema, { errors: "all" })
    finalDecoders.set(schema.ast, decode)
  }
  return decode
}

/** The value of a text that is a plain JSON object or array (nothing around it), else `undefined`. */
const plainJson = (text: string): unknown => {
  const first = text.trimStart()[0]
  if (first !== "{" && first !== "[") return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

class DecoderImpl<A, I> implements Decoder<A> {
  private parser: PartialJson.Parser | undefined
  private readonly chunks: Array<string> = []
  private readonly completed = new Completed()
  private readonly mode: PartialMode | false
  private readonly objectName: string
  private readonly decodeFinal: (u: unknown) => Either.Either<A, ParseResult.ParseIssue>
  /** `"validated"` mode: the values shown, and the containers of it that will not change any more. */
  private view: unknown = undefined
  private readonly frozen = new WeakSet<object>()
  /** The key last added to each open object of the view (integer-like keys do not enumerate in insertion order). */
  private readonly lastKey = new WeakMap<object, string>()
  private dirty = false
  private version = 0
  changed = false

  constructor(readonly schema: Schema.Schema<A, I>, options: DecoderOptions | undefined) {
    this.mode = options?.partial ?? "raw"
    this.objectName = options?.objectName ?? "output"
    this.decodeFinal = finalDecoder(schema)
    // without partials the text is parsed once at the end: `JSON.parse` when it is plain JSON, else this parser
    this.parser = this.mode === false ? undefined : PartialJson.make(
      this.mode === "raw"
        ? { onComplete: (path) => this.onCompleteRaw(path) }
        : { onComplete: (path, value) => this.onCompleteValidated(path, value) }
    )
  }

  text(): string {
    if (this.chunks.length > 1) {
      const joined = this.chunks.join("")
      this.chunks.length = 0
      this.chunks.push(joined)
    }
    return this.chunks[0] ?? ""
  }

  feed(delta: string): boolean {
    this.chunks.push(delta)
    this.parser?.feed(delta)
    return this.takeChanged()
  }

  /** Whether to show a new partial; in raw mode, only when a snapshot is due (so a long list costs O(text)). */
  private takeChanged(last = false): boolean {
    if (this.mode === false) return false
    if (this.mode === "raw") {
      const parser = this.parser!
      const version = parser.version
      const changed = (version !== this.version || this.dirty) && (last || parser.snapshotDue())
      if (changed) {
        this.version = version
        this.dirty = false
      }
      return changed
    }
    const changed = this.dirty
    this.dirty = false
    return changed
  }

  partial(): Partial {
    const complete = this.completed.list()
    if (this.mode === "raw") return { value: this.parser!.snapshot(), complete }
    return { value: this.snapshotView(this.view), complete }
  }

  finish(context: { readonly attempt: number; readonly finishReason?: string | undefined }) {
    const plain = this.parser === undefined ? plainJson(this.text()) : undefined
    if (plain !== undefined) return this.decodeValue(plain, context)
    const parser = this.parser ?? PartialJson.make()
    if (this.parser === undefined) parser.feed(this.text())
    const value = parser.end()
    this.changed = this.takeChanged(true)
    if (value === undefined || !parser.done) {
      const error = parser.error
      const message = error !== undefined
        ? `malformed JSON: ${error.message}`
        : value === undefined
        ? "the reply holds no JSON value"
        : `the JSON value is cut short at offset ${parser.offset}${
          context.finishReason === "length" ? " (the model hit its token limit)" : ""
        }`
      return this.fail(context, "InvalidJson", [{ path: [], message }], error)
    }
    return this.decodeValue(value, context)
  }

  private decodeValue(
    value: unknown,
    context: { readonly attempt: number; readonly finishReason?: string | undefined }
  ): Either.Either<A, StructuredOutputError> {
    const decoded = this.decodeFinal(normalize(this.schema.ast, value))
    if (Either.isRight(decoded)) return Either.right(decoded.right)
    return this.fail(
      context,
      "SchemaMismatch",
      ParseResult.ArrayFormatter.formatIssueSync(decoded.left).map((issue) => ({
        path: issue.path.map((key) => typeof key === "number" ? key : String(key)),
        message: issue.message
      }))
    )
  }

  private fail(
    context: { readonly attempt: number; readonly finishReason?: string | undefined },
    reason: "InvalidJson" | "SchemaMismatch",
    issues: ReadonlyArray<Issue>,
    cause?: unknown
  ): Either.Either<never, StructuredOutputError> {
    return Either.left(
      new StructuredOutputError({
        objectName: this.objectName,
        reason,
        text: this.text(),
        issues,
        attempt: context.attempt,
        ...(context.finishReason === undefined ? {} : { finishReason: context.finishReason }),
        ...(cause === undefined ? {} : { cause })
      })
    )
  }

  private onCompleteRaw(path: PartialJson.Path): void {
    this.completed.add(dotted(path))
    this.dirty = true
  }

  private onCompleteValidated(path: PartialJson.Path, value: unknown): void {
    const key = dotted(path)
    if (this.completed.has(key)) return
    const existing = this.viewAt(path)
    if (existing !== null && typeof existing === "object") this.frozen.add(existing)
    let ast: AST.AST = this.schema.ast
    for (const key of path) {
      const child = childAst(ast, key)
      if (child === undefined || child === EXCESS) return
      ast = child
    }
    const normalized = normalize(ast, value)
    if (!checker(ast)(normalized)) return
    if (existing === undefined && !this.insert(path, normalized)) return
    this.completed.add(key)
    this.dirty = true
  }

  private viewAt(path: PartialJson.Path): unknown {
    let current = this.view
    for (const key of path) {
      if (current === null || typeof current !== "object") return undefined
      current = (current as Record<string | number, unknown>)[key]
    }
    return current
  }

  /** Places a complete value in the view, creating the containers on its way; false when it cannot be placed. */
  private insert(path: PartialJson.Path, value: unknown): boolean {
    if (path.length === 0) {
      if (this.view !== undefined) return false
      this.view = value
      if (value !== null && typeof value === "object") this.frozen.add(value)
      return true
    }
    if (this.view === undefined) this.view = typeof path[0] === "number" ? [] : {}
    let container = this.view as Record<string | number, unknown> | Array<unknown>
    for (let i = 0; i < path.length; i++) {
      const key = path[i]!
      const last = i === path.length - 1
      if (Array.isArray(container)) {
        if (typeof key !== "number" || key > container.length) return false
        if (last) {
          if (key !== container.length) return false
          container.push(value)
          break
        }
        if (key === container.length) container.push(typeof path[i + 1] === "number" ? [] : {})
        const next = container[key]
        if (next === null || typeof next !== "object") return false
        container = next as Record<string | number, unknown>
      } else {
        if (typeof key !== "string") return false
        if (last) {
          container[key] = value
          this.lastKey.set(container, key)
          break
        }
        let next = container[key]
        if (next === undefined) {
          next = typeof path[i + 1] === "number" ? [] : {}
          container[key] = next
          this.lastKey.set(container, key)
        }
        if (next === null || typeof next !== "object") return false
        container = next as Record<string | number, unknown>
      }
    }
    if (value !== null && typeof value === "object") this.frozen.add(value)
    return true
  }

  /** Copies the open containers; in JSON only the last entry of an open container may itself be open. */
  private snapshotView(value: unknown): unknown {
    if (value === null || typeof value !== "object" || this.frozen.has(value)) return value
    if (Array.isArray(value)) {
      const out = value.slice()
      if (out.length > 0) out[out.length - 1] = this.snapshotView(out[out.length - 1])
      return out
    }
    const out: Record<string, unknown> = { ...value }
    const last = this.lastKey.get(value)
    if (last !== undefined) out[last] = this.snapshotView(out[last])
    return out
  }
}
