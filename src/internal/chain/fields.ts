/**
 * What a schema says about the fields a template reads: whether a path exists, and the field names to list in an
 * error.
 */
import * as AST from "effect/SchemaAST"

/** Whether a schema has a path: `true`, `false`, or `undefined` when the schema does not say (unknown, any, …). */
export const hasPath = (ast: AST.AST, path: ReadonlyArray<string>, depth: number): boolean | undefined => {
  if (path.length === 0) return true
  if (depth > 32) return undefined
  const [head, ...rest] = path as [string, ...Array<string>]
  switch (ast._tag) {
    case "TypeLiteral": {
      const ps = ast.propertySignatures.find((p) => p.name === head)
      if (ps !== undefined) return hasPath(ps.type, rest, depth + 1)
      for (const index of ast.indexSignatures) {
        if (AST.isStringKeyword(index.parameter) || AST.isTemplateLiteral(index.parameter)) {
          return hasPath(index.type, rest, depth + 1)
        }
      }
      return false
    }
    case "Union":
      return someMember(ast.types, path, depth)
    case "Transformation": {
      const to = hasPath(ast.to, path, depth + 1)
      if (to === true) return true
      const from = hasPath(ast.from, path, depth + 1)
      return from === true ? true : to === undefined || from === undefined ? undefined : false
    }
    case "Refinement":
      return hasPath(ast.from, path, depth + 1)
    case "Suspend":
      return hasPath(ast.f(), path, depth + 1)
    case "TupleType": {
      if (!/^\d+$/.test(head)) return false
      const element = ast.elements[Number(head)]
      if (element !== undefined) return hasPath(element.type, rest, depth + 1)
      const restType = ast.rest[0]
      return restType === undefined ? false : hasPath(restType.type, rest, depth + 1)
    }
    case "UnknownKeyword":
    case "AnyKeyword":
    case "ObjectKeyword":
    case "Declaration":
      return undefined
    default:
      return false
  }
}

const someMember = (
  members: ReadonlyArray<AST.AST>,
  path: ReadonlyArray<string>,
  depth: number
): boolean | undefined => {
  let unknown = false
  for (const member of members) {
    const found = hasPath(member, path, depth + 1)
    if (found === true) return true
    if (found === undefined) unknown = true
  }
  return unknown ? undefined : false
}

/** The field names of a schema for an error message: `unknown` when it cannot tell, `none` when it has none. */
export const fieldNames = (ast: AST.AST): string => {
  const names = propertyNames(ast, 0)
  return names === undefined ? "unknown" : names.length === 0 ? "none" : names.join(", ")
}

const propertyNames = (ast: AST.AST, depth: number): ReadonlyArray<string> | undefined => {
  if (depth > 32) return undefined
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.map((p) => String(p.name))
    case "Transformation":
      return propertyNames(ast.to, depth + 1) ?? propertyNames(ast.from, depth + 1)
    case "Refinement":
      return propertyNames(ast.from, depth + 1)
    case "Suspend":
      return propertyNames(ast.f(), depth + 1)
    case "Union": {
      const all = new Set<string>()
      for (const member of ast.types) for (const name of propertyNames(member, depth + 1) ?? []) all.add(name)
      return [...all]
    }
    default:
      return undefined
  }
}
