/**
 * A chain drawn for people and tools: the `graph.json` description, a Mermaid flowchart and a plain-text tree.
 */
import * as Either from "effect/Either"
import type * as Chain from "../../Chain.js"
import * as Template from "../../Template.js"
import * as Mermaid from "../mermaid.js"
import { computeHashes, hashText, jsonSchema } from "./hash.js"
import { isParallel, planOf } from "./plan.js"

type Leaf = Chain.LlmStep | Chain.ApplyStep

/** See `Chain.toGraphJson`. */
export const toGraphJson = (
  self: Chain.Chain,
  options?: { readonly engines?: Readonly<Record<string, string>> | undefined } | undefined
): Chain.GraphJson => {
  const plan = Either.getOrUndefined(planOf(self))
  const engineOf = (step: Leaf) => options?.engines?.[step.id] ?? (step._tag === "LlmStep" ? step.engine : undefined)
  const hashes = plan === undefined ? {} : computeHashes(plan, engineOf)
  const deps = new Map(plan?.steps.map((s) => [s.step.id, s.deps]) ?? [])
  const describeLine = (line: ReadonlyArray<Chain.Step>): Array<Chain.GraphJsonStep> =>
    line.map((step): Chain.GraphJsonStep =>
      isParallel(step)
        ? {
          kind: "parallel",
          branches: step.map((b) => ({ name: b.name, alias: b.alias, steps: describeLine(b.steps) }))
        }
        : describeStep(step, engineOf(step), hashes[step.id] ?? "", deps.get(step.id) ?? [])
    )
  return { name: self.name, steps: describeLine(self.steps), hashes, hash: hashText(JSON.stringify(hashes)) }
}

const describeStep = (
  step: Leaf,
  engine: string | undefined,
  hash: string,
  dependsOn: ReadonlyArray<string>
): Chain.GraphJsonStep =>
  step._tag === "LlmStep"
    ? {
      kind: "llm",
      id: step.id,
      name: step.name,
      engine,
      sampling: step.sampling,
      system: step.system?.text,
      prompt: step.prompt.text,
      fields: [...new Set([...(step.system ? Template.fields(step.system) : []), ...Template.fields(step.prompt)])],
      repair: step.repair,
      retry: step.retry,
      input: jsonSchema(step.input),
      output: jsonSchema(step.output),
      dependsOn,
      hash
    }
    : {
      kind: "apply",
      id: step.id,
      name: step.name,
      batch: step.batch,
      batchSize: step.batchSize,
      input: step.input === undefined ? undefined : jsonSchema(step.input),
      output: step.output === undefined ? undefined : jsonSchema(step.output),
      dependsOn,
      hash
    }

/** Every LLM and pure step of a line of steps, in order (branch steps in their list's order). */
export const flatSteps = (line: ReadonlyArray<Chain.Step>): ReadonlyArray<Leaf> => {
  const out: Array<Leaf> = []
  const walk = (steps: ReadonlyArray<Chain.Step>) => {
    for (const step of steps) {
      if (isParallel(step)) { for (const b of step) walk(b.steps) }
      else out.push(step)
    }
  }
  walk(line)
  return out
}

/** `id: name` (the name when it differs from the id). */
const title = (step: Leaf): string => `${step.id}${step.name !== step.id ? `: ${step.name}` : ""}`

/** See `Chain.toMermaid`. */
export const toMermaid = (self: Chain.Chain): string => {
  const lines = ["graph TD", `  start(["▶ ${Mermaid.escape(self.name)}"])`]
  const edges: Array<string> = []
  const node = (step: Leaf, indent: string) => {
    const label = Mermaid.escape(
      step._tag === "LlmStep"
        ? `${title(step)}${step.engine ? ` · ${step.engine}` : ""}`
        : `${title(step)}${step.batch ? " · batch" : ""}`
    )
    lines.push(step._tag === "LlmStep" ? `${indent}s_${step.id}["${label}"]` : `${indent}s_${step.id}{{"${label}"}}`)
  }
  let group = 0
  const walk = (
    line: ReadonlyArray<Chain.Step>,
    from: ReadonlyArray<string>,
    indent: string
  ): ReadonlyArray<string> => {
    let prev = from
    for (const step of line) {
      if (isParallel(step)) {
        const ends: Array<string> = []
        for (const b of step) {
          const id = `b${group++}_${Mermaid.safeId(b.name)}`
          lines.push(`${indent}subgraph ${id}["${Mermaid.escape(b.name + (b.alias ? ` ⇒ {{${b.alias}}}` : ""))}"]`)
          ends.push(...walk(b.steps, prev, indent + "  "))
          lines.push(`${indent}end`)
        }
        prev = ends
      } else {
        node(step, indent)
        for (const p of prev) edges.push(`  ${p} --> s_${step.id}`)
        prev = [`s_${step.id}`]
      }
    }
    return prev
  }
  const ends = walk(self.steps, ["start"], "  ")
  lines.push(`  done(["■ end"])`)
  for (const p of ends) edges.push(`  ${p} --> done`)
  const pure = flatSteps(self.steps).filter((s) => s._tag === "ApplyStep").map((s) => `s_${s.id}`)
  lines.push(...edges, ...Mermaid.classLines("pure", Mermaid.styles.green, pure))
  return lines.join("\n") + "\n"
}

/** See `Chain.toTree`. */
export const toTree = (self: Chain.Chain): string => {
  const lines = [self.name]
  const label = (step: Leaf) =>
    step._tag === "LlmStep"
      ? `${step.id} [llm${step.engine ? ` · ${step.engine}` : ""}]${step.name !== step.id ? ` ${step.name}` : ""}`
      : `${step.id} [apply${step.batch ? " · batch" : ""}]${step.name !== step.id ? ` ${step.name}` : ""}`
  const walk = (line: ReadonlyArray<Chain.Step>, prefix: string) => {
    line.forEach((step, i) => {
      const last = i === line.length - 1
      const head = prefix + (last ? "└── " : "├── ")
      const next = prefix + (last ? "    " : "│   ")
      if (!isParallel(step)) return lines.push(head + label(step))
      lines.push(`${head}parallel`)
      step.forEach((b, j) => {
        const lastBranch = j === step.length - 1
        lines.push(`${next}${lastBranch ? "└── " : "├── "}${b.name}${b.alias ? ` ⇒ {{${b.alias}}}` : ""}`)
        walk(b.steps, next + (lastBranch ? "    " : "│   "))
      })
    })
  }
  walk(self.steps, "")
  return lines.join("\n") + "\n"
}
