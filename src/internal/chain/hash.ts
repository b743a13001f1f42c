/**
 * Configuration hashes of a chain's steps: a hash of a step's own configuration (prompts, schemas, sampling, engine,
 * a pure step's function source) and of the hashes of the steps it depends on, so a change re-runs that step and
 * the steps after it. The hash is stable across runs, processes and platforms.
 */
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"
import type * as Chain from "../../Chain.js"
import type { Plan } from "./plan.js"

/** The hash of every step of a plan, by id, with `engineOf` naming each step's engine. */
export const computeHashes = (
  plan: Plan,
  engineOf: (step: Chain.LlmStep | Chain.ApplyStep) => string | undefined
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const s of plan.steps) {
    const deps = s.deps.map((d) => `${d}=${out[d] ?? ""}`).join(",")
    out[s.step.id] = hashText(`${s.config}|engine=${engineOf(s.step) ?? ""}|deps=${deps}`)
  }
  return out
}

/** A schema as JSON Schema, or a description saying it cannot be one. */
export const jsonSchema = (schema: Schema.Schema.Any): unknown =>
  Either.getOrElse(
    Either.try(() => JSONSchema.make(schema as Schema.Schema<unknown, unknown>)),
    () => ({ description: `not expressible as JSON Schema: ${String(schema)}` })
  )

/** JSON with object keys sorted: equal values print equal. */
export const stableJson = (value: unknown): string =>
  JSON.stringify(value, (_, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/** A 106-bit non-cryptographic hash (two 53-bit cyrb53 halves) as hex: stable across runs and platforms. */
export const hashText = (text: string): string => cyrb53(text, 0) + cyrb53(text, 0x9e3779b9)

const cyrb53 = (text: string, seed: number): string => {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0")
}

/** Function source without formatting: the same code printed by different transpilers compares equal. */
export const normalizeSource = (source: string): string =>
  source
    .replace(/\s+/g, "")
    .replace(/[;,]+(?=[}\])])/g, "")
    .replace(/\(([A-Za-z_$][\w$]*)\)=>/g, "$1=>")
    .replace(/['`]/g, "\"")
