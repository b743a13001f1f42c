/**
 * Prompt templates with `{{field}}` placeholders: parsed once, rendered fast, with the fields they read listed so
 * that a `Chain` can check them against a `Schema` before anything runs.
 *
 * - A placeholder is `{{ path }}` where `path` is a dotted path: `{{title}}`, `{{extract.brand}}`,
 *   `{{items.0.name}}`. Spaces inside the braces are ignored.
 * - Rendering looks each path up in the variables: strings are inserted as they are, numbers and booleans as text,
 *   `null` and missing values as the empty string, dates in ISO format, other objects and arrays as JSON.
 * - `\{{` writes a literal `{{`.
 * - {@link parse} reports a malformed placeholder (an unclosed `{{`, an empty or invalid path) as a
 *   {@link TemplateError}; {@link make} keeps such text literally.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import { TemplateError } from "./TemplateError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/Template")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A placeholder of a template: its dotted `path`, split into segments, and where it starts in the text.
 *
 * @example
 * ```ts
 * import type * as Template from "sluice/Template"
 *
 * const ref: Template.Reference = { path: ["extract", "brand"], name: "extract.brand", offset: 9 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reference {
  readonly path: ReadonlyArray<string>
  readonly name: string
  readonly offset: number
}

/**
 * A parsed template: its source `text` and its `parts`, literal strings and {@link Reference}s in order.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * const t: Template.Template = Template.make("Hello {{name}}")
 * t.parts // ["Hello ", { path: ["name"], name: "name", offset: 6 }]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Template {
  readonly [TypeId]: TypeId
  readonly text: string
  readonly parts: ReadonlyArray<string | Reference>
}

/**
 * Tells whether a value is a {@link Template}.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.isTemplate(Template.make("{{x}}")) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isTemplate = (u: unknown): u is Template => Predicate.hasProperty(u, TypeId)

/**
 * Parses a template, failing with a {@link TemplateError} on a malformed placeholder. `Either` is an `Effect` in
 * Effect 3, so the result can be yielded in `Effect.gen`.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import * as Template from "sluice/Template"
 *
 * Either.isLeft(Template.parse("Hello {{ name")) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string): Either.Either<Template, TemplateError> => {
  const result = scan(text, true)
  return isTemplate(result) ? Either.right(result) : Either.left(result)
}

/**
 * Parses a template leniently: a malformed placeholder is kept as literal text.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * const t = Template.make("Product: {{title}} ({{ price }} EUR)")
 * Template.render(t, { title: "Kettle", price: 39.5 }) // "Product: Kettle (39.5 EUR)"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (text: string): Template => scan(text, false) as Template

/**
 * Renders a template with the given variables (see the module description for how values are written).
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.render(Template.make("{{fr.brand}}: {{tags}}"), { fr: { brand: "Bosch" }, tags: ["a", "b"] })
 * // "Bosch: [\"a\",\"b\"]"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (self: Template, vars: unknown): string => {
  const parts = self.parts
  let out = ""
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    out += typeof part === "string" ? part : format(lookup(vars, part.path))
  }
  return out
}

/**
 * The dotted paths the template reads, once each, in order of first use.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.fields(Template.make("{{a}} {{b.c}} {{a}}")) // ["a", "b.c"]
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const fields = (self: Template): ReadonlyArray<string> => {
  const seen = new Set<string>()
  for (const part of self.parts) if (typeof part !== "string") seen.add(part.name)
  return [...seen]
}

/**
 * The placeholders of a template, in order (repeats included).
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.references(Template.make("{{a}} {{a}}")).length // 2
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const references = (self: Template): ReadonlyArray<Reference> =>
  self.parts.filter((part): part is Reference => typeof part !== "string")

/**
 * Looks a dotted path up in a value: object properties by name, array elements by index; `undefined` when any
 * segment is missing.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.lookup({ items: [{ name: "x" }] }, ["items", "0", "name"]) // "x"
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const lookup = (vars: unknown, path: ReadonlyArray<string>): unknown => {
  let current = vars
  for (let i = 0; i < path.length; i++) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<string, unknown>)[path[i]!]
  }
  return current
}

/**
 * Writes a value as template text: strings as they are, `null`/`undefined` as `""`, dates in ISO format, objects and
 * arrays as JSON, anything else with `String`.
 *
 * @example
 * ```ts
 * import * as Template from "sluice/Template"
 *
 * Template.format({ a: 1 }) // "{\"a\":1}"
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const format = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
    case "boolean":
    case "bigint":
      return String(value)
    case "undefined":
      return ""
    case "object": {
      if (value === null) return ""
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? "" : value.toISOString()
      const json = safeJson(value)
      return json ?? String(value)
    }
    default:
      return String(value)
  }
}

// =============================================================================
// internal
// =============================================================================

const Proto = {
  [TypeId]: TypeId,
  toJSON(this: Template) {
    return { _id: "Template", text: this.text }
  },
  toString(this: Template) {
    return this.text
  }
}

const makeTemplate = (text: string, parts: Array<string | Reference>): Template => {
  const self = Object.create(Proto)
  self.text = text
  self.parts = parts
  return self
}

const SEGMENT = /^[A-Za-z_$][\w$-]*$|^\d+$/

const scan = (text: string, strict: boolean): Template | TemplateError => {
  const parts: Array<string | Reference> = []
  let literal = ""
  let i = 0
  while (i < text.length) {
    const open = text.indexOf("{{", i)
    if (open < 0) {
      literal += text.slice(i)
      break
    }
    if (open > 0 && text[open - 1] === "\\") {
      literal += text.slice(i, open - 1) + "{{"
      i = open + 2
      continue
    }
    literal += text.slice(i, open)
    const close = text.indexOf("}}", open + 2)
    if (close < 0) {
      if (strict) return new TemplateError({ text, offset: open, description: "unclosed {{" })
      literal += text.slice(open)
      break
    }
    const name = text.slice(open + 2, close).trim()
    const path = name.split(".")
    if (name.length === 0 || !path.every((segment) => SEGMENT.test(segment))) {
      if (strict) {
        return new TemplateError({
          text,
          offset: open,
          description: name.length === 0 ? "empty placeholder {{}}" : `invalid field path "${name}"`
        })
      }
      literal += text.slice(open, close + 2)
      i = close + 2
      continue
    }
    if (literal.length > 0) parts.push(literal)
    literal = ""
    parts.push({ path, name, offset: open })
    i = close + 2
  }
  if (literal.length > 0) parts.push(literal)
  return makeTemplate(text, parts)
}

const safeJson = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}
