/**
 * Build-time compatibility of consecutive steps: can the JSON a step outputs (its output schema's encoded side) be
 * decoded by the next step's input schema? The check is conservative: it reports only what must fail on every row
 * (a required field the output never has, a field whose kinds cannot meet: a string where a number is expected, an
 * object where an array is), and accepts what it cannot judge (unknown, transformations it cannot see through,
 * template literals, declarations).
 */
import * as AST from "effect/SchemaAST"

/** Why an output cannot feed an input, or `undefined` when it may. */
export const mismatch = (output: AST.AST, input: AST.AST): string | undefined =>
  check(encoded(output), encoded(input), [])

const encoded = (ast: AST.AST): AST.AST => AST.encodedAST(ast)

type Kind = "string" | "number" | "boolean" | "null" | "undefined" | "object" | "array" | "bigint" | "symbol"

/** The JSON kinds a schema's values may have, or `undefined` when they cannot be told (anything may match). */
const kinds = (ast: AST.AST): ReadonlySet<Kind> | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return new Set(["string"])
    case "NumberKeyword":
      return new Set(["number"])
    case "BooleanKeyword":
      return new Set(["boolean"])
    case "BigIntKeyword":
      return new Set(["bigint"])
    case "SymbolKeyword":
    case "UniqueSymbol":
      return new Set(["symbol"])
    case "UndefinedKeyword":
    case "VoidKeyword":
      return new Set(["undefined"])
    case "Literal":
      return new Set([ast.literal === null ? "null" : typeof ast.literal as Kind])
    case "Enums":
      return new Set(ast.enums.map(([, value]) => typeof value as Kind))
    case "TypeLiteral":
      return new Set(["object"])
    case "TupleType":
      return new Set(["array"])
    case "Refinement":
      return kinds(ast.from)
    case "Suspend":
      return undefined
    case "Union": {
      const out = new Set<Kind>()
      for (const member of ast.types) {
        const k = kinds(member)
        if (k === undefined) return undefined
        for (const kind of k) out.add(kind)
      }
      return out
    }
    default:
      return undefined
  }
}

const describe = (ks: ReadonlySet<Kind>): string => [...ks].join(" | ")

const where = (path: ReadonlyArray<string>): string => path.length === 0 ? "the value" : `field "${path.join(".")}"`

const check = (output: AST.AST, input: AST.AST, path: ReadonlyArray<string>): string | undefined => {
  if (output._tag === "Refinement") return check(output.from, input, path)
  if (input._tag === "Refinement") return check(output, input.from, path)
  const out = kinds(output)
  const inp = kinds(input)
  if (out === undefined || inp === undefined) return undefined
  const common = [...out].filter((k) => inp.has(k))
  if (common.length === 0) {
    return `${where(path)}: the previous step outputs ${describe(out)}, this step expects ${describe(inp)}`
  }
  // an output union may hold other kinds too: only judge its object side when it is only an object
  if (out.size === 1 && inp.size === 1 && common[0] === "object") {
    const o = typeLiteral(output)
    const i = typeLiteral(input)
    if (o === undefined || i === undefined || o.indexSignatures.length > 0) return undefined
    const fields = new Map(o.propertySignatures.map((p) => [p.name, p]))
    for (const p of i.propertySignatures) {
      if (typeof p.name !== "string") continue
      const field = fields.get(p.name)
      if (field === undefined) {
        if (p.isOptional || i.indexSignatures.length > 0) continue
        return `${where([...path, p.name])} is required here, and the previous step does not output it`
      }
      const inner = check(field.type, p.type, [...path, p.name])
      if (inner !== undefined) return inner
    }
  }
  if (out.size === 1 && inp.size === 1 && common[0] === "array") {
    const o = output._tag === "TupleType" ? output : undefined
    const i = input._tag === "TupleType" ? input : undefined
    if (o !== undefined && i !== undefined && o.rest.length > 0 && i.rest.length > 0) {
      return check(o.rest[0]!.type, i.rest[0]!.type, [...path, "[]"])
    }
  }
  return undefined
}

const typeLiteral = (ast: AST.AST): AST.TypeLiteral | undefined =>
  ast._tag === "TypeLiteral" ? ast : ast._tag === "Refinement" ? typeLiteral(ast.from) : undefined
