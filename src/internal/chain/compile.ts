/**
 * Compiling a chain's steps into its `Plan` when `Chain.make` builds it: ids checked (plain names, unique, not
 * reserved), each step's input schema checked against the previous step's output (`compatible.ts`), templates
 * parsed and every field they read resolved against the schemas in scope (the step's input, `chain_input`, earlier
 * steps by id, aliased branches by alias), decoders and encoders built once, and each step's configuration and
 * dependencies recorded for its hash (`hash.ts`).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import type * as Chain from "../../Chain.js"
import { ChainError } from "../../ChainError.js"
import type * as StructuredOutput from "../../StructuredOutput.js"
import * as Template from "../../Template.js"
import { mismatch } from "./compatible.js"
import { fieldNames, hasPath } from "./fields.js"
import { jsonSchema, stableJson } from "./hash.js"
import {
  isParallel,
  type Plan,
  type PlanGroup,
  type PlanNode,
  type PlanStep,
  type Resolved,
  type Segment,
  type Vars
} from "./plan.js"

const RESERVED = new Set(["chain_input", "flattened", "errors"])
const ID = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/

/** What a template name in scope stands for: its schema (undefined: unknown shape) and the step it comes from. */
interface ScopeEntry {
  readonly ast: AST.AST | undefined
  readonly step: string
}

type Scope = Map<string, ScopeEntry>

interface Line {
  readonly line: Array<PlanNode>
  readonly last: PlanStep | undefined
}

/** Compiles the steps of the chain `name` into its plan, or the first `ChainError` found. */
export const compile = (name: string, line: ReadonlyArray<Chain.Step>): Either.Either<Plan, ChainError> => {
  const compiler = new Compiler(name, firstInputSchema(line))
  const root = compiler.line(line, new Map(), undefined, "the chain")
  if (compiler.error !== undefined) return Either.left(compiler.error)
  if (root === undefined) {
    return Either.left(new ChainError({ chain: name, reason: "Empty", description: "the chain has no step" }))
  }
  let mainLast: PlanStep | undefined
  for (const node of root.line) if (node._tag === "Step") mainLast = node
  return Either.right({
    name,
    line: root.line,
    steps: compiler.all,
    segments: segment(root.line),
    last: mainLast,
    aliases: compiler.aliases
  })
}

class Compiler {
  readonly all: Array<PlanStep> = []
  readonly aliases = new Map<string, string | undefined>()
  private readonly ids = new Set<string>()
  error: ChainError | undefined

  constructor(readonly name: string, readonly rowAst: AST.AST | undefined) {}

  /** Claims an id (a step id or a branch alias): false, with the error set, when it is invalid or taken. */
  claim(id: string, what: string): boolean {
    if (this.error !== undefined) return false
    if (!ID.test(id) || RESERVED.has(id)) {
      this.error = new ChainError({
        chain: this.name,
        step: id,
        reason: "InvalidId",
        description: RESERVED.has(id)
          ? `"${id}" is reserved (chain_input, flattened, errors)`
          : `${what} "${id}" must be letters, digits, "_" or "-"`
      })
      return false
    }
    if (this.ids.has(id)) {
      this.error = new ChainError({
        chain: this.name,
        step: id,
        reason: "DuplicateId",
        description: `two steps or aliases are named "${id}"`
      })
      return false
    }
    this.ids.add(id)
    return true
  }

  /** A line of steps, after `prev`, with the names in `scope` (which it extends). */
  line(steps: ReadonlyArray<Chain.Step>, scope: Scope, prev: PlanStep | undefined, where: string): Line | undefined {
    if (steps.length === 0) {
      this.error ??= new ChainError({ chain: this.name, reason: "Empty", description: `${where} has no step` })
      return undefined
    }
    const out: Array<PlanNode> = []
    let last = prev
    for (const step of steps) {
      if (this.error !== undefined) return undefined
      if (isParallel(step)) {
        const group = this.group(step, scope, last, where)
        if (group === undefined) return undefined
        out.push(group)
        continue
      }
      if (!this.claim(step.id, "step id")) return undefined
      const compiled = compileStep(this.name, step, scope, last, this.rowAst)
      if (Either.isLeft(compiled)) {
        this.error = compiled.left
        return undefined
      }
      this.all.push(compiled.right)
      out.push(compiled.right)
      scope.set(step.id, { ast: step.output === undefined ? undefined : step.output.ast, step: step.id })
      last = compiled.right
    }
    return { line: out, last }
  }

  /** A list of branches: each a line on the value before it; aliased branches' outputs come into `scope`. */
  group(
    step: ReadonlyArray<Chain.Branch>,
    scope: Scope,
    last: PlanStep | undefined,
    where: string
  ): PlanGroup | undefined {
    if (step.length === 0) {
      this.error = new ChainError({
        chain: this.name,
        reason: "Empty",
        description: `a list of branches in ${where} is empty`
      })
      return undefined
    }
    const branches: Array<PlanGroup["branches"][number]> = []
    const aliased: Array<[string, ScopeEntry]> = []
    for (const b of step) {
      const inner = this.line(b.steps, new Map(scope), last, `branch "${b.name}"`)
      if (inner === undefined) return undefined
      branches.push({ name: b.name, alias: b.alias, line: inner.line })
      if (b.alias === undefined) continue
      const end = inner.last
      // a branch may be aliased under the id of its own last step (both name the same value)
      if (b.alias !== end?.step.id && !this.claim(b.alias, "branch alias")) return undefined
      this.aliases.set(b.alias, end?.step.id)
      aliased.push([b.alias, {
        ast: end?.step.output === undefined ? undefined : end.step.output.ast,
        step: end?.step.id ?? ""
      }])
    }
    for (const [alias, entry] of aliased) scope.set(alias, entry)
    return { _tag: "Group", branches }
  }
}

const firstInputSchema = (line: ReadonlyArray<Chain.Step>): AST.AST | undefined => {
  const first = line[0]
  if (first === undefined || isParallel(first)) return undefined
  return first.input?.ast
}

const compileStep = (
  chain: string,
  step: Chain.LlmStep | Chain.ApplyStep,
  scope: ReadonlyMap<string, ScopeEntry>,
  prev: PlanStep | undefined,
  rowAst: AST.AST | undefined
): Either.Either<PlanStep, ChainError> => {
  const deps = new Set<string>()
  if (prev !== undefined) deps.add(prev.step.id)
  if (prev?.step.output !== undefined && step.input !== undefined) {
    const problem = mismatch(prev.step.output.ast, step.input.ast)
    if (problem !== undefined) {
      return Either.left(
        new ChainError({
          chain,
          step: step.id,
          reason: "IncompatibleInput",
          description: `its input schema cannot accept the output of "${prev.step.id}": ${problem}`
        })
      )
    }
  }
  return step._tag === "ApplyStep"
    ? Either.right(compileApply(step, scope, deps))
    : compileLlm(chain, step, scope, deps, rowAst)
}

const decoderOf = (step: Chain.LlmStep | Chain.ApplyStep) =>
  step.input === undefined ? undefined : Schema.decodeUnknownEither(step.input, { errors: "all" })

const encoderOf = (step: Chain.LlmStep | Chain.ApplyStep) =>
  step.output === undefined ? undefined : Schema.encodeUnknownEither(step.output)

/** A pure step depends on every step in scope: its function may read any of them through `vars`. */
const compileApply = (step: Chain.ApplyStep, scope: ReadonlyMap<string, ScopeEntry>, deps: Set<string>): PlanStep => {
  for (const [, entry] of scope) if (entry.step !== "" && !deps.has(entry.step)) deps.add(entry.step)
  return {
    _tag: "Step",
    step,
    deps: [...deps],
    config: stableJson({
      kind: "apply",
      id: step.id,
      batch: step.batch,
      source: step.source,
      input: step.input === undefined ? null : jsonSchema(step.input),
      output: step.output === undefined ? null : jsonSchema(step.output)
    }),
    decode: decoderOf(step),
    encode: encoderOf(step),
    llm: undefined
  }
}

const compileLlm = (
  chain: string,
  step: Chain.LlmStep,
  scope: ReadonlyMap<string, ScopeEntry>,
  deps: Set<string>,
  rowAst: AST.AST | undefined
): Either.Either<PlanStep, ChainError> => {
  const prompt = compileTemplate(chain, step, "prompt", step.prompt, scope, deps, rowAst)
  if (Either.isLeft(prompt)) return Either.left(prompt.left)
  const system = step.system === undefined
    ? Either.right(undefined)
    : compileTemplate(chain, step, "system", step.system, scope, deps, rowAst)
  if (Either.isLeft(system)) return Either.left(system.left)
  const format: StructuredOutput.Format = {
    objectName: step.id.replace(/[^A-Za-z0-9_-]/g, "_"),
    schema: step.output
  }
  return Either.right({
    _tag: "Step",
    step,
    deps: [...deps],
    config: stableJson({
      kind: "llm",
      id: step.id,
      prompt: step.prompt.text,
      system: step.system?.text ?? null,
      sampling: step.sampling ?? null,
      repair: step.repair,
      input: jsonSchema(step.input),
      output: jsonSchema(step.output)
    }),
    decode: decoderOf(step),
    encode: encoderOf(step),
    llm: { prompt: prompt.right, system: system.right, format }
  })
}

/** A template's renderer, its fields resolved against the scope (the steps it reads are added to `deps`). */
const compileTemplate = (
  chain: string,
  step: Chain.LlmStep,
  which: string,
  template: Template.Template,
  scope: ReadonlyMap<string, ScopeEntry>,
  deps: Set<string>,
  rowAst: AST.AST | undefined
): Either.Either<(vars: Vars) => string, ChainError> => {
  const parsed = Template.parse(template.text)
  if (Either.isLeft(parsed)) {
    return Either.left(
      new ChainError({
        chain,
        step: step.id,
        reason: "InvalidTemplate",
        description: `${which}: ${parsed.left.message}`
      })
    )
  }
  const resolved: Array<Resolved> = []
  for (const ref of Template.references(template)) {
    const r = resolveRef(chain, step, ref, scope, rowAst)
    if (Either.isLeft(r)) return Either.left(r.left)
    resolved.push(r.right)
    if (r.right.source === "output") deps.add(scope.get(r.right.key)!.step)
  }
  return Either.right(makeRenderer(template, resolved))
}

const resolveRef = (
  chain: string,
  step: Chain.LlmStep,
  ref: Template.Reference,
  scope: ReadonlyMap<string, ScopeEntry>,
  rowAst: AST.AST | undefined
): Either.Either<Resolved, ChainError> => {
  const [head, ...rest] = ref.path as [string, ...Array<string>]
  const unknown = (description: string) =>
    Either.left(new ChainError({ chain, step: step.id, reason: "UnknownField", field: ref.name, description }))
  if (head === "chain_input" && rest.length > 0) {
    if (rowAst !== undefined && hasPath(rowAst, rest, 0) === false) {
      return unknown(`the chain's input has no field "${rest.join(".")}" (fields: ${fieldNames(rowAst)})`)
    }
    return Either.right({ source: "row", key: "", path: rest })
  }
  const inScope = scope.get(head)
  if (rest.length > 0 && inScope !== undefined) {
    if (inScope.ast !== undefined && hasPath(inScope.ast, rest, 0) === false) {
      return unknown(`"${head}" has no field "${rest.join(".")}" (fields: ${fieldNames(inScope.ast)})`)
    }
    return Either.right({ source: "output", key: head, path: rest })
  }
  if (hasPath(step.input.ast, ref.path, 0) !== false) return Either.right({ source: "input", key: "", path: ref.path })
  if (inScope !== undefined) return Either.right({ source: "output", key: head, path: [] })
  const names = [...scope.keys()]
  return unknown(
    `the input schema has no field "${ref.name}" (fields: ${fieldNames(step.input.ast)})` +
      (names.length > 0 ? `; earlier steps and aliases: ${names.join(", ")}` : "")
  )
}

const makeRenderer = (template: Template.Template, resolved: ReadonlyArray<Resolved>): (vars: Vars) => string => {
  const parts: Array<string | Resolved> = []
  let r = 0
  for (const part of template.parts) parts.push(typeof part === "string" ? part : resolved[r++]!)
  return (vars) => {
    let out = ""
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!
      if (typeof part === "string") {
        out += part
        continue
      }
      const base = part.source === "input"
        ? vars.input
        : part.source === "row"
        ? vars.item.row
        : vars.item.outputs[part.key]
      out += Template.format(Template.lookup(base, part.path))
    }
    return out
  }
}

/** Splits a line at its batch steps: a batch step runs over chunks of items, the steps between per item. */
const segment = (line: ReadonlyArray<PlanNode>): ReadonlyArray<Segment> => {
  const out: Array<Segment> = []
  let current: Array<PlanNode> = []
  for (const node of line) {
    if (node._tag === "Step" && node.step._tag === "ApplyStep" && node.step.batch) {
      if (current.length > 0) out.push({ _tag: "Line", line: current })
      current = []
      out.push({ _tag: "Batch", step: node })
    } else {
      current.push(node)
    }
  }
  if (current.length > 0) out.push({ _tag: "Line", line: current })
  return out
}
