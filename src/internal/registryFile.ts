/**
 * Engines files: the text of an `engines.yml` or JSON file to a plain value and the positions of its fields, with
 * every syntax error reported at its line and column. Validation of the value is `registry/validate.ts`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Yaml from "yaml"
import { EngineRegistryError, type Issue } from "../EngineRegistryError.js"
import * as PartialJson from "../PartialJson.js"
import { describe } from "./describe.js"
import { empty, invalid, type Locator, type Path } from "./registry/issues.js"

export type Format = "yaml" | "json"

/** A parsed file: its value, and where each of its fields stands in the text. */
export interface Source {
  readonly value: unknown
  readonly locate: Locator
}

/** The format named, else JSON for a `.json` file and YAML for anything else. */
export const formatOf = (file: string | undefined, format: Format | undefined): Format =>
  format ?? (file !== undefined && /\.json$/i.test(file) ? "json" : "yaml")

/** Reads a file's text; a failure is a `ReadFailed` error. */
export const read = (path: string): Effect.Effect<string, EngineRegistryError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.mapError(
      fs.readFileString(path),
      (cause) => new EngineRegistryError({ reason: "ReadFailed", file: path, description: describe(cause), cause })
    ))

/**
 * Parses the text of an engines file. JSON is checked by the strict `PartialJson` parser first (so its errors speak
 * JSON, not YAML), then read as the YAML it also is, which keeps the position of every node.
 */
export const parse = (
  text: string,
  file: string | undefined,
  format: Format
): Either.Either<Source, EngineRegistryError> => {
  if (text.trim() === "") return Either.left(empty(file))
  if (format === "json") {
    const syntax = jsonSyntaxError(text)
    if (syntax !== undefined) {
      const issue: Issue = {
        field: "",
        message: `JSON syntax error: ${syntax.message}`,
        ...linePos(lineCounterOf(text), syntax.offset)
      }
      return Either.left(invalid([issue], file, undefined))
    }
  }
  const lineCounter = new Yaml.LineCounter()
  const document = Yaml.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (document.errors.length > 0) {
    const issues = document.errors.map((error): Issue => ({
      field: "",
      message: `${format === "json" ? "JSON" : "YAML"} syntax error: ${error.message}`,
      ...linePos(lineCounter, error.pos[0])
    }))
    return Either.left(invalid(issues, file, undefined))
  }
  const value = Either.try(() => document.toJS({ maxAliasCount: 1000 }) as unknown)
  if (Either.isLeft(value)) return Either.left(invalid([{ field: "", message: describe(value.left) }], file, undefined))
  if (value.right === null || value.right === undefined) return Either.left(empty(file))
  return Either.right({ value: value.right, locate: (path) => locateNode(document, lineCounter, path) })
}

/** The first syntax error of a JSON text (where, and what), or `undefined` when it is one whole JSON value. */
const jsonSyntaxError = (text: string): { readonly offset: number; readonly message: string } | undefined => {
  const parser = PartialJson.make({ strict: true })
  parser.feed(text)
  parser.end()
  const error = parser.error
  if (error?.reason === "TrailingComma") {
    return { offset: text.lastIndexOf(",", error.offset), message: `trailing comma before "${text[error.offset]}"` }
  }
  if (error !== undefined) return { offset: error.offset, message: error.description ?? error.reason }
  return parser.done ? undefined : { offset: text.length, message: "the text ends before the JSON value is complete" }
}

const lineCounterOf = (text: string): Yaml.LineCounter => {
  const lines = new Yaml.LineCounter()
  lines.addNewLine(0)
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) lines.addNewLine(i + 1)
  return lines
}

const linePos = (lineCounter: Yaml.LineCounter, offset: number): { line: number; column: number } => {
  const { col, line } = lineCounter.linePos(offset)
  return { line, column: col }
}

/** The position of the deepest node on the path: a map key when the path ends at one, else its value or item. */
const locateNode = (document: Yaml.Document, lineCounter: Yaml.LineCounter, path: Path) => {
  let node: unknown = document.contents
  let position = rangeStart(node)
  for (const segment of path) {
    if (Yaml.isMap(node)) {
      const pair = node.items.find((item) => keyOf(item.key) === String(segment))
      if (pair === undefined) break
      position = rangeStart(pair.key) ?? position
      node = pair.value
    } else if (Yaml.isSeq(node) && typeof segment === "number") {
      node = node.items[segment]
      position = rangeStart(node) ?? position
      if (node === undefined) break
    } else {
      break
    }
  }
  return position === undefined ? undefined : linePos(lineCounter, position)
}

const keyOf = (key: unknown): string | undefined =>
  Yaml.isScalar(key) ? String(key.value) : typeof key === "string" ? key : undefined

const rangeStart = (node: unknown): number | undefined =>
  Yaml.isNode(node) && node.range !== undefined && node.range !== null ? node.range[0] : undefined
