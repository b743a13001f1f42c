/**
 * Dry-run values of a `Schema`: its AST compiled once into a generator of values that look like data (see
 * `leaves.ts`) and are valid by construction: literals, enums, bounds, lengths, patterns and formats are generated
 * to fit, the `examples` and `default` annotations are used, every filter is checked (a few tries, then Effect's
 * `Arbitrary` for that part). A value built with `Arbitrary` anywhere marks the run `tainted`: the caller then
 * checks the whole value.
 *
 * @internal
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { Gen, State } from "./gen.js"
import { DEEPEST, SHALLOW } from "./gen.js"
import * as JsonSchema from "./jsonSchema.js"
import * as Leaves from "./leaves.js"

const cache = new WeakMap<AST.AST, Gen>()

/** The generator of a schema's values (of its type side), compiled once per AST. */
export const compile = (ast: AST.AST): Gen => {
  let gen = cache.get(ast)
  if (gen === undefined) {
    gen = node(ast, { name: "", text: "" }, new Map())
    cache.set(ast, gen)
  }
  return gen
}

// =============================================================================
// internal
// =============================================================================

type Suspends = Map<AST.AST, Gen>

const parseOptions: AST.ParseOptions = {}

const node = (ast: AST.AST, hint: Leaves.Hint, suspends: Suspends): Gen => {
  const own = describe(ast, hint)
  const gen = base(ast, own, suspends)
  const examples = [
    ...Option.getOrElse(AST.getExamplesAnnotation(ast), () => []),
    ...Option.toArray(AST.getDefaultAnnotation(ast))
  ]
  if (examples.length === 0) return gen
  const is = Schema.is(Schema.make(ast))
  const valid = examples.filter((example) => Either.getOrElse(Either.try(() => is(example)), () => false))
  if (valid.length === 0) return gen
  return (state) => valid[Math.floor(state.random() * valid.length)]
}

// A node's description and title, except those Effect gives its keywords and built-in filters ("a string", "a
// string at most 5 character(s) long"), which say nothing of the field.
const describe = (ast: AST.Annotated, hint: Leaves.Hint): Leaves.Hint => {
  if (AST.isRefinement(ast as AST.AST) && Option.isSome(AST.getSchemaIdAnnotation(ast))) return hint
  const text = [AST.getDescriptionAnnotation(ast), AST.getTitleAnnotation(ast)]
    .flatMap(Option.toArray)
    .filter((text) => !keywordTexts.has(text))
    .join(" ")
  return text === "" ? hint : { name: hint.name, text: `${text} ${hint.text}` }
}

const keywordTexts = new Set(
  [
    AST.stringKeyword,
    AST.numberKeyword,
    AST.booleanKeyword,
    AST.bigIntKeyword,
    AST.symbolKeyword,
    AST.objectKeyword,
    AST.unknownKeyword,
    AST.anyKeyword,
    AST.undefinedKeyword,
    AST.voidKeyword,
    AST.neverKeyword
  ].flatMap((keyword) =>
    [AST.getDescriptionAnnotation(keyword), AST.getTitleAnnotation(keyword)].flatMap(Option.toArray)
  )
)

const base = (ast: AST.AST, hint: Leaves.Hint, suspends: Suspends): Gen => {
  switch (ast._tag) {
    case "Literal": {
      const literal = ast.literal
      return typeof literal === "bigint" ? taint(() => literal) : () => literal
    }
    case "UndefinedKeyword":
    case "VoidKeyword":
      return () => undefined
    case "UnknownKeyword":
    case "AnyKeyword": {
      const schema = AST.getJSONSchemaAnnotation(ast).pipe(Option.getOrUndefined)
      if (schema !== undefined && typeof schema === "object") return JsonSchema.compile(schema, hint)
      return leaf(Leaves.string(hint, {}))
    }
    case "StringKeyword":
      return leaf(Leaves.string(hint, {}))
    case "NumberKeyword":
      return leaf(Leaves.number(hint, {}))
    case "BooleanKeyword":
      return (state) => state.random() < 0.5
    case "BigIntKeyword":
      return taint((state) => BigInt(Math.floor(state.random() * 1000)))
    case "ObjectKeyword":
      return () => ({})
    case "Enums": {
      const values = ast.enums.map(([, value]) => value)
      return (state) => values[Math.floor(state.random() * values.length)]
    }
    case "Declaration":
      return Option.isSome(AST.getSchemaIdAnnotation(ast)) &&
          AST.getSchemaIdAnnotation(ast).pipe(Option.getOrUndefined) === Schema.DateFromSelfSchemaId
        ? (state) =>
          new Date(Date.UTC(
            2019 + Math.floor(state.random() * 8),
            Math.floor(state.random() * 12),
            1 +
              Math.floor(state.random() * 28),
            8 + Math.floor(state.random() * 12)
          ))
        : fallback(ast)
    case "Refinement":
      return refinement(ast, hint, suspends)
    case "TupleType":
      return tuple(ast, hint, {}, suspends)
    case "TypeLiteral":
      return typeLiteral(ast, hint, suspends)
    case "Union":
      return union(ast, hint, suspends)
    case "Suspend": {
      const existing = suspends.get(ast)
      if (existing !== undefined) return existing
      let inner: Gen | undefined
      const gen: Gen = (state, depth) => {
        if (depth > DEEPEST) throw new Error("dry-run: recursion too deep")
        inner ??= node(ast.f(), hint, suspends)
        return inner(state, depth + 1)
      }
      suspends.set(ast, gen)
      return gen
    }
    case "Transformation":
      return transformation(ast, hint, suspends)
    case "TemplateLiteral":
      return templateLiteral(ast)
    case "UniqueSymbol":
    case "SymbolKeyword":
    case "NeverKeyword":
      return fallback(ast)
  }
}

// `id-${number}`: each span gets a word, a small integer or one of its literals; the result is checked.
const templateLiteral = (ast: AST.TemplateLiteral): Gen => {
  const span = (type: AST.AST): Leaves.Leaf<string> => {
    switch (type._tag) {
      case "Literal":
        return () => String(type.literal)
      case "NumberKeyword":
        return (random) => String(Math.floor(random() * 100))
      case "Union": {
        const members = type.types.map(span)
        return (random) => members[Math.floor(random() * members.length)]!(random)
      }
      case "TemplateLiteral": {
        const inner = templateLiteral(type)
        return (random) => String(inner({ random, tainted: false }, 0))
      }
      default:
        return Leaves.key
    }
  }
  const spans = ast.spans.map((s) => ({ gen: span(s.type), literal: s.literal }))
  const regex = AST.getTemplateLiteralRegExp(ast)
  const rescue = fallback(ast)
  return (state, depth) => {
    let out = ast.head
    for (const s of spans) out += s.gen(state.random) + s.literal
    return regex.test(out) ? out : rescue(state, depth)
  }
}

const leaf = (gen: Leaves.Leaf<unknown> | undefined): Gen =>
  gen === undefined ? () => undefined : (state) => gen(state.random)

const taint = (gen: Gen): Gen => (state, depth) => {
  state.tainted = true
  return gen(state, depth)
}

// Effect's `Arbitrary` for a part beyond the generators here (built on first use).
const fallback = (ast: AST.AST): Gen => {
  let arbitrary: FastCheck.Arbitrary<unknown> | undefined
  return (state) => {
    state.tainted = true
    arbitrary ??= Arbitrary.make(Schema.make(ast)) as FastCheck.Arbitrary<unknown>
    return FastCheck.sample(arbitrary, { seed: Math.floor(state.random() * 0x7fffffff), numRuns: 1 })[0]
  }
}

// A chain of filters: their `jsonSchema` annotations shape the generated value, then every filter checks it.
const refinement = (ast: AST.Refinement, hint: Leaves.Hint, suspends: Suspends): Gen => {
  const filters: Array<AST.Refinement> = []
  const constraints: Record<string, unknown> = {}
  let from: AST.AST = ast
  while (AST.isRefinement(from)) {
    filters.unshift(from)
    const annotation = AST.getJSONSchemaAnnotation(from).pipe(Option.getOrUndefined)
    if (annotation !== undefined && typeof annotation === "object") {
      Leaves.readConstraints(annotation as Record<string, unknown>, constraints)
    }
    from = from.from
  }
  const inner = from._tag === "StringKeyword"
    ? leaf(Leaves.string(hint, constraints))
    : from._tag === "NumberKeyword"
    ? leaf(Leaves.number(hint, constraints))
    : from._tag === "TupleType"
    ? tuple(from, hint, constraints, suspends)
    : node(from, hint, suspends)
  const passes = (value: unknown) => filters.every((f) => Option.isNone(f.filter(value, parseOptions, f)))
  const rescue = fallback(ast)
  return (state, depth) => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const value = inner(state, depth)
      if (passes(value)) return value
    }
    return rescue(state, depth)
  }
}

const tuple = (
  ast: AST.TupleType,
  hint: Leaves.Hint,
  constraints: Readonly<Record<string, unknown>>,
  suspends: Suspends
): Gen => {
  const elements = ast.elements.map((element) => ({
    gen: node(element.type, hint, suspends),
    optional: element.isOptional
  }))
  const [rest, ...trailing] = ast.rest.map((type) => node(type.type, hint, suspends))
  const fixed = elements.filter((element) => !element.optional).length + trailing.length
  const minItems = typeof constraints.minItems === "number" ? constraints.minItems : undefined
  const maxItems = typeof constraints.maxItems === "number" ? constraints.maxItems : undefined
  const count = Leaves.length(
    minItems === undefined ? undefined : Math.max(0, minItems - fixed),
    maxItems === undefined ? undefined : Math.max(0, maxItems - fixed)
  )
  return (state, depth) => {
    const out: Array<unknown> = []
    for (const element of elements) {
      if (element.optional && (depth >= SHALLOW || state.random() < 0.3)) break
      out.push(element.gen(state, depth))
    }
    if (rest !== undefined) {
      const n = depth >= SHALLOW ? Math.max(0, (minItems ?? 0) - fixed) : count(state.random)
      for (let i = 0; i < n; i++) out.push(rest(state, depth))
    }
    for (const gen of trailing) out.push(gen(state, depth))
    return out
  }
}

const typeLiteral = (ast: AST.TypeLiteral, hint: Leaves.Hint, suspends: Suspends): Gen => {
  const properties = ast.propertySignatures.map((p) => ({
    key: p.name,
    optional: p.isOptional,
    gen: node(p.type, describe(p, { name: String(p.name), text: "" }), suspends)
  }))
  const index = ast.propertySignatures.length > 0 ? undefined : ast.indexSignatures[0]
  const entries = index === undefined ? undefined : {
    key: index.parameter._tag === "StringKeyword"
      ? leaf(Leaves.key)
      : node(index.parameter, { name: "key", text: "" }, suspends),
    value: node(index.type, hint, suspends),
    count: Leaves.length(1, 3)
  }
  return (state, depth) => {
    const out: Record<PropertyKey, unknown> = {}
    for (const property of properties) {
      if (property.optional && (depth >= SHALLOW || state.random() < 0.2)) continue
      out[property.key] = property.gen(state, depth)
    }
    if (entries !== undefined && depth < SHALLOW) {
      const n = entries.count(state.random)
      for (let i = 0; i < n; i++) {
        out[entries.key(state, depth) as PropertyKey] = entries.value(state, depth)
      }
    }
    return out
  }
}

// Members are equally likely, except `undefined` and `null`, rarely chosen; deep down, members without recursion.
const union = (ast: AST.Union, hint: Leaves.Hint, suspends: Suspends): Gen => {
  const members = ast.types.map((type) => ({
    gen: node(type, hint, suspends),
    weight: isEmpty(type) ? 0.1 : 1,
    recursive: recursive(type)
  }))
  const shallow = members.filter((member) => !member.recursive)
  const choose = (list: typeof members) => {
    const total = list.reduce((sum, member) => sum + member.weight, 0)
    return (state: State) => {
      let r = state.random() * total
      for (const member of list) {
        r -= member.weight
        if (r < 0) return member
      }
      return list[list.length - 1]!
    }
  }
  const any = choose(members)
  const leafward = shallow.length > 0 ? choose(shallow) : any
  return (state, depth) => (depth >= SHALLOW ? leafward : any)(state).gen(state, depth)
}

const isEmpty = (ast: AST.AST): boolean =>
  ast._tag === "UndefinedKeyword" || ast._tag === "VoidKeyword" || (ast._tag === "Literal" && ast.literal === null)

const recursive = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "Suspend":
      return true
    case "Refinement":
      return recursive(ast.from)
    case "Transformation":
      return recursive(ast.from) || recursive(ast.to)
    case "Union":
      return ast.types.some(recursive)
    case "TupleType":
      return ast.elements.some((e) => recursive(e.type)) || ast.rest.some((r) => recursive(r.type))
    case "TypeLiteral":
      return ast.propertySignatures.some((p) => recursive(p.type)) ||
        ast.indexSignatures.some((i) => recursive(i.type))
    default:
      return false
  }
}

// The decoded side when it needs no `Arbitrary`; else the encoded side's type, decoded through the transformation
// (a class from its fields, an `Option` from its tagged struct).
const transformation = (ast: AST.Transformation, hint: Leaves.Hint, suspends: Suspends): Gen => {
  if (!needsFallback(ast.to)) return node(ast.to, hint, suspends)
  const from = node(ast.from, hint, suspends)
  const decode = ParseResult.decodeUnknownEither(
    Schema.make(new AST.Transformation(AST.typeAST(ast.from), ast.to, ast.transformation))
  )
  const rescue = fallback(ast)
  return (state, depth) => {
    const decoded = decode(from(state, depth))
    return Either.isRight(decoded) ? decoded.right : rescue(state, depth)
  }
}

const needsFallback = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "Declaration":
      return AST.getSchemaIdAnnotation(ast).pipe(Option.getOrUndefined) !== Schema.DateFromSelfSchemaId
    case "UniqueSymbol":
    case "SymbolKeyword":
    case "NeverKeyword":
      return true
    case "Refinement":
      return needsFallback(ast.from)
    case "Transformation":
      return needsFallback(ast.to) && needsFallback(ast.from)
    case "Union":
      return ast.types.some(needsFallback)
    case "TupleType":
      return ast.elements.some((e) => needsFallback(e.type)) || ast.rest.some((r) => needsFallback(r.type))
    case "TypeLiteral":
      return ast.propertySignatures.some((p) => needsFallback(p.type)) ||
        ast.indexSignatures.some((i) => needsFallback(i.type))
    default:
      return false
  }
}
