/**
 * Drawings of a graph as declared (it need not be valid): a Mermaid flowchart and a plain-text tree.
 */
import type { NodeBody } from "../../Graph.js"
import * as Mermaid from "../mermaid.js"
import { entryOf, type GraphImpl, type StepDefinition } from "./compile.js"

/** A step's label: its id, ⚡ for a token step, and the nested graph or node's name in brackets when `inner`. */
const describe = (d: StepDefinition, inner: boolean): string =>
  d.id + (d.kind === "stream" ? " ⚡" : "") + (inner ? innerName(d) : "")

const innerName = (d: StepDefinition): string =>
  d.kind === "graph"
    ? ` [graph ${(d.body as GraphImpl).name}]`
    : d.kind === "node"
    ? ` [node ${(d.body as NodeBody<unknown>).node.name}]`
    : ""

const isNested = (d: StepDefinition) => d.kind === "graph" || d.kind === "node"

export const toMermaid = (impl: GraphImpl): string => {
  const defs = impl.definitions
  const nodeIds = new Map(defs.map((d, i) => [d.id, `n${i}`]))
  const nodeId = (id: string) => nodeIds.get(id) ?? `missing_${Mermaid.safeId(id)}`
  const shape = (d: StepDefinition) => {
    const text = Mermaid.escape(describe(d, false))
    return d.kind === "stream" ? `(["${text}"])` : isNested(d) ? `[["${text}"]]` : `["${text}"]`
  }
  const lines = ["graph TD", `  Start(["▶ Start"])`]
  for (const d of defs) lines.push(`  ${nodeId(d.id)}${shape(d)}`)
  const terminal = defs.filter((d) => d.to.length === 0 && d.routes.length === 0)
  if (terminal.length > 0) lines.push(`  End(["■ End"])`)
  const entry = entryOf(impl)
  if (entry !== undefined) lines.push(`  Start --> ${nodeId(entry)}`)
  for (const d of defs) {
    for (const target of d.to) lines.push(`  ${nodeId(d.id)} --> ${nodeId(target)}`)
    for (const target of d.routes) lines.push(`  ${nodeId(d.id)} -.-> ${nodeId(target)}`)
  }
  for (const d of terminal) lines.push(`  ${nodeId(d.id)} --> End`)
  const streaming = defs.filter((d) => d.kind === "stream").map((d) => nodeId(d.id))
  lines.push(...Mermaid.classLines("streaming", Mermaid.styles.streaming, streaming))
  lines.push(...Mermaid.classLines("nested", Mermaid.styles.green, defs.filter(isNested).map((d) => nodeId(d.id))))
  return lines.join("\n") + "\n"
}

export const toTree = (impl: GraphImpl): string => {
  const byId = new Map(impl.definitions.map((d) => [d.id, d]))
  const lines = [impl.name]
  const seen = new Set<string>()
  const visit = (id: string, indent: string, connector: string, childIndent: string) => {
    const d = byId.get(id)
    const again = seen.has(id)
    const label = d === undefined ? `${id} (unknown)` : describe(d, true)
    lines.push(`${indent}${connector}${label}${again ? " (see above)" : ""}`)
    if (again) return
    seen.add(id)
    if (d === undefined) return
    const children = [...d.to.map((t) => [t, "──"] as const), ...d.routes.map((t) => [t, "┄┄"] as const)]
    children.forEach(([target, line], i) => {
      const last = i === children.length - 1
      visit(target, indent + childIndent, `${last ? "└" : "├"}${line} `, last ? "    " : "│   ")
    })
  }
  const entry = entryOf(impl)
  if (entry !== undefined) visit(entry, "", "└── ", "    ")
  for (const d of impl.definitions) if (!seen.has(d.id)) visit(d.id, "", "└── ", "    ")
  return lines.join("\n") + "\n"
}
