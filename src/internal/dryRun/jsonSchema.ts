/**
 * Dry-run values of a JSON Schema (a schema that reaches the engine only as JSON Schema, as an OpenAI-compatible
 * request's `response_format` does): compiled once per schema object into a generator of values that look like data
 * and follow `type`, `enum`, `const`, `properties`/`required`, `items`/`prefixItems`, `anyOf`/`oneOf`/`allOf`,
 * `$ref` (`#/$defs/…`, `#/definitions/…`), bounds, lengths, patterns, formats, `examples` and `default`.
 *
 * @internal
 */
import type { Gen } from "./gen.js"
import { DEEPEST, SHALLOW } from "./gen.js"
import * as Leaves from "./leaves.js"

type JsonSchema = Readonly<Record<string, unknown>>

const cache = new WeakMap<object, Gen>()

/** The generator of a JSON Schema's values, compiled once per schema object. */
export const compile = (schema: object, hint: Leaves.Hint = { name: "", text: "" }): Gen => {
  let gen = cache.get(schema)
  if (gen === undefined) {
    gen = node(schema as JsonSchema, hint, schema as JsonSchema, new Map())
    cache.set(schema, gen)
  }
  return gen
}

// =============================================================================
// internal
// =============================================================================

type Refs = Map<string, Gen>

const isObject = (u: unknown): u is JsonSchema => typeof u === "object" && u !== null && !Array.isArray(u)

const pickOne = (values: ReadonlyArray<unknown>): Gen => (state) => values[Math.floor(state.random() * values.length)]

const node = (schema: unknown, hint: Leaves.Hint, root: JsonSchema, refs: Refs): Gen => {
  if (schema === true || !isObject(schema)) return leafString(hint)
  const text = [schema.description, schema.title].filter((t) => typeof t === "string").join(" ")
  const own = text === "" ? hint : { name: hint.name, text: `${text} ${hint.text}` }
  if ("const" in schema) return () => schema.const
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return pickOne(schema.enum)
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return pickOne(schema.examples)
  if (typeof schema.$ref === "string") return ref(schema.$ref, own, root, refs)
  const alternatives = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : []
  if (alternatives.length > 0) {
    const gens = alternatives.map((alternative) => node(alternative, own, root, refs))
    const nonNull = alternatives.flatMap((alternative, i) =>
      isObject(alternative) && alternative.type === "null" ? [] : [gens[i]!]
    )
    return (state, depth) => {
      const list = nonNull.length > 0 && state.random() < 0.9 ? nonNull : gens
      return list[Math.floor(state.random() * list.length)]!(state, depth)
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    return node(Object.assign({}, ...schema.allOf.filter(isObject), { allOf: undefined }), own, root, refs)
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [guess(schema)] : [schema.type]
  const type = types.find((t) => t !== "null") ?? types[0]
  const constraints: Record<string, unknown> = {}
  Leaves.readConstraints(schema, constraints)
  switch (type) {
    case "string":
      return leaf(Leaves.string(own, constraints) ?? Leaves.string(own, {}))
    case "integer":
      return leaf(Leaves.number(own, { ...constraints, integer: true }))
    case "number":
      return leaf(Leaves.number(own, constraints))
    case "boolean":
      return (state) => state.random() < 0.5
    case "null":
      return () => null
    case "array":
      return array(schema, own, root, refs)
    case "object":
      return object(schema, own, root, refs)
    default:
      return leafString(own)
  }
}

const guess = (schema: JsonSchema): string =>
  "properties" in schema || "additionalProperties" in schema
    ? "object"
    : "items" in schema || "prefixItems" in schema
    ? "array"
    : "string"

const leaf = (gen: Leaves.Leaf<unknown> | undefined): Gen =>
  gen === undefined ? () => null : (state) => gen(state.random)

const leafString = (hint: Leaves.Hint): Gen => leaf(Leaves.string(hint, {}))

const ref = (target: string, hint: Leaves.Hint, root: JsonSchema, refs: Refs): Gen => {
  const existing = refs.get(target)
  if (existing !== undefined) return existing
  let inner: Gen | undefined
  const gen: Gen = (state, depth) => {
    if (depth > DEEPEST) throw new Error("dry-run: recursion too deep")
    if (inner === undefined) {
      const path = target.replace(/^#\//, "").split("/").filter((part) => part !== "")
      const resolved = path.reduce<unknown>((at, part) => (isObject(at) ? at[part] : undefined), root)
      inner = node(resolved ?? {}, hint, root, refs)
    }
    return inner(state, depth + 1)
  }
  refs.set(target, gen)
  return gen
}

const array = (schema: JsonSchema, hint: Leaves.Hint, root: JsonSchema, refs: Refs): Gen => {
  const prefix =
    (Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [])
      .map((item) => node(item, hint, root, refs))
  const items = isObject(schema.items) ? node(schema.items, hint, root, refs) : undefined
  const minItems = typeof schema.minItems === "number" ? schema.minItems : 0
  const maxItems = typeof schema.maxItems === "number" ? schema.maxItems : undefined
  const count = Leaves.length(
    Math.max(0, minItems - prefix.length),
    maxItems === undefined ? undefined : maxItems - prefix.length
  )
  return (state, depth) => {
    const out = prefix.map((gen) => gen(state, depth))
    if (items !== undefined) {
      const n = depth >= SHALLOW ? Math.max(0, minItems - prefix.length) : count(state.random)
      for (let i = 0; i < n; i++) out.push(items(state, depth))
    }
    return out
  }
}

const object = (schema: JsonSchema, hint: Leaves.Hint, root: JsonSchema, refs: Refs): Gen => {
  const required = new Set(Array.isArray(schema.required) ? schema.required : [])
  const properties = Object.entries(isObject(schema.properties) ? schema.properties : {}).map(([key, value]) => ({
    key,
    optional: !required.has(key),
    gen: node(value, { name: key, text: "" }, root, refs)
  }))
  const additional = properties.length === 0 && isObject(schema.additionalProperties)
    ? node(schema.additionalProperties, hint, root, refs)
    : undefined
  return (state, depth) => {
    const out: Record<string, unknown> = {}
    for (const property of properties) {
      if (property.optional && (depth >= SHALLOW || state.random() < 0.2)) continue
      out[property.key] = property.gen(state, depth)
    }
    if (additional !== undefined && depth < SHALLOW) {
      const n = 1 + Math.floor(state.random() * 3)
      for (let i = 0; i < n; i++) out[Leaves.key(state.random)] = additional(state, depth)
    }
    return out
  }
}
