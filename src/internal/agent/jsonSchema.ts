/**
 * Parameters described by a raw JSON Schema: a `Schema` that the model sees as that JSON Schema verbatim, that
 * checks the keywords the inferred TypeScript type relies on (`type`, `enum`, `const`, `properties`, `required`,
 * `additionalProperties`, `items`), and that generates values for the dry-run engine.
 */
import type * as Arbitrary from "effect/Arbitrary"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

type JsonSchema = { readonly [keyword: string]: unknown }

/** The issues of a value against a JSON Schema, each as `path: problem`; empty when it conforms. */
export const issues = (schema: unknown, value: unknown, path = ""): Array<string> => {
  if (!Predicate.isRecord(schema)) return []
  const out: Array<string> = []
  const at = path === "" ? "" : `${path}: `
  if ("const" in schema && !equal(schema.const, value)) {
    out.push(`${at}expected ${JSON.stringify(schema.const)}, got ${show(value)}`)
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => equal(option, value))) {
    out.push(
      `${at}expected one of ${schema.enum.map((option) => JSON.stringify(option)).join(", ")}, got ${show(value)}`
    )
  }
  const types = typeof schema.type === "string" ? [schema.type] : Array.isArray(schema.type) ? schema.type : undefined
  if (types !== undefined && !types.some((type) => hasType(type, value))) {
    out.push(`${at}expected ${types.join(" or ")}, got ${typeName(value)}`)
    return out
  }
  if (Predicate.isRecord(value) && !Array.isArray(value)) objectIssues(schema, value, path, out)
  if (Array.isArray(value) && Predicate.isRecord(schema.items)) {
    value.forEach((item, i) => out.push(...issues(schema.items, item, `${path}[${i}]`)))
  }
  return out
}

const objectIssues = (
  schema: JsonSchema,
  value: { readonly [key: string]: unknown },
  path: string,
  out: Array<string>
): void => {
  const properties = Predicate.isRecord(schema.properties) ? schema.properties : {}
  const prefix = path === "" ? "" : `${path}.`
  if (Array.isArray(schema.required)) {
    for (const key of schema.required) {
      if (typeof key === "string" && !(key in value)) out.push(`${prefix}${key}: is missing`)
    }
  }
  for (const [key, item] of Object.entries(value)) {
    if (key in properties) out.push(...issues(properties[key], item, `${prefix}${key}`))
    else if (schema.additionalProperties === false) out.push(`${prefix}${key}: is not allowed`)
    else if (Predicate.isRecord(schema.additionalProperties)) {
      out.push(...issues(schema.additionalProperties, item, `${prefix}${key}`))
    }
  }
}

const hasType = (type: unknown, value: unknown): boolean => {
  switch (type) {
    case "object":
      return Predicate.isRecord(value) && !Array.isArray(value)
    case "array":
      return Array.isArray(value)
    case "integer":
      return Number.isInteger(value)
    case "number":
      return typeof value === "number" && Number.isFinite(value)
    case "string":
    case "boolean":
      return typeof value === type
    case "null":
      return value === null
    default:
      return true
  }
}

const typeName = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "object" ? "object" : typeof value

const show = (value: unknown): string => {
  const text = JSON.stringify(value)
  return text === undefined ? typeName(value) : text.length > 40 ? `${text.slice(0, 40)}…` : text
}

const equal = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b)

/** Values for a JSON Schema, for engines that generate tool parameters (the dry-run engine). */
const arbitrary = (schema: unknown): Arbitrary.LazyArbitrary<unknown> => (fc) => {
  if (!Predicate.isRecord(schema)) return fc.constant({})
  if ("const" in schema) return fc.constant(schema.const)
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return fc.constantFrom(...schema.enum)
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case "string":
      return fc.constantFrom("alpha", "beta", "gamma", "delta")
    case "integer":
      return fc.integer({ min: 0, max: 100 })
    case "number":
      return fc.integer({ min: 0, max: 1000 }).map((n) => n / 10)
    case "boolean":
      return fc.boolean()
    case "null":
      return fc.constant(null)
    case "array":
      return fc.array(arbitrary(schema.items)(fc), { maxLength: 3 })
    case "object":
    case undefined: {
      const properties = Predicate.isRecord(schema.properties) ? schema.properties : {}
      const required = Array.isArray(schema.required) ? schema.required.filter(Predicate.isString) : []
      const fields = Object.fromEntries(Object.entries(properties).map(([key, item]) => [key, arbitrary(item)(fc)]))
      return fc.record(fields, { requiredKeys: required.filter((key) => key in fields) })
    }
    default:
      return fc.constant(null)
  }
}

/**
 * The parameters schema of a tool declared with a JSON Schema. It also has the `fields` and `make` of a struct
 * schema, which `@effect/ai` asks of tool parameters (for the type only: nothing reads them).
 */
export const parameters = (jsonSchema: JsonSchema): Schema.Schema<unknown> => {
  const schema = Schema.declare([], {
    decode: () => (input, _, ast) => {
      const found = hasType("object", input) ? issues(jsonSchema, input) : ["expected a JSON object"]
      return found.length === 0 ? ParseResult.succeed(input) : ParseResult.fail(
        new ParseResult.Type(ast, input, found.join("; "))
      )
    },
    encode: () => (input) => ParseResult.succeed(input)
  }, {
    jsonSchema,
    arbitrary: () => arbitrary(jsonSchema)
  })
  return Object.assign(schema, { fields: {}, make: (value: unknown) => value })
}
