/**
 * Validation of engine definitions: Chainette's spellings made sluice's, the schema decoded with every problem
 * kept, then the rules a schema cannot say (unique names, known backends, the fields each backend reads).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { BuiltinBackend, Definition, Spec } from "../../EngineRegistry.js"
import type { EngineRegistryError } from "../../EngineRegistryError.js"
import * as LlamaCpp from "../../engines/LlamaCpp.js"
import type * as Sampling from "../../Sampling.js"
import { builtinNames } from "./backends.js"
import { formatPath, invalid, isPrefix, type Locator, type Path, type PathIssue } from "./issues.js"

/** The schema's decoder (`errors: "all"`, excess properties rejected): given by the module that owns the schema. */
export type DecodeSchema = (input: unknown) => Either.Either<Definition, ParseResult.ParseError>

/**
 * Decodes and checks a raw definition (from a file when `locate` is given, else from code). Chainette's in-process
 * fields are logged as warnings.
 */
export const decode = (
  decodeSchema: DecodeSchema,
  raw: unknown,
  backends: ReadonlyArray<string>,
  file: string | undefined,
  locate: Locator | undefined
): Effect.Effect<Definition, EngineRegistryError> =>
  Effect.suspend(() => {
    const { input, warnings } = chainette(raw, backends)
    return Effect.zipRight(
      Effect.forEach(warnings, (warning) => Effect.logWarning(`${file === undefined ? "" : `${file}: `}${warning}`), {
        discard: true
      }),
      decodeChecked(decodeSchema, input, backends, file, locate)
    )
  })

const decodeChecked = (
  decodeSchema: DecodeSchema,
  input: unknown,
  backends: ReadonlyArray<string>,
  file: string | undefined,
  locate: Locator | undefined
): Either.Either<Definition, EngineRegistryError> => {
  const decoded = decodeSchema(input)
  if (Either.isLeft(decoded)) return Either.left(invalid(schemaIssues(decoded.left), file, locate))
  const issues = check(decoded.right, backends)
  return issues.length > 0 ? Either.left(invalid(issues, file, locate)) : Either.right(decoded.right)
}

/** One issue per field; a rejected excess property is not reported where a deeper issue explains it. */
const schemaIssues = (error: ParseResult.ParseError): Array<PathIssue> => {
  const seen = new Set<string>()
  const issues: Array<PathIssue> = []
  const all = ParseResult.ArrayFormatter.formatErrorSync(error)
  for (const issue of all) {
    const key = formatPath(issue.path)
    if (seen.has(key)) continue
    if (
      issue.message.startsWith("Expected undefined, actual") &&
      all.some((other) => other !== issue && isPrefix(issue.path, other.path))
    ) {
      continue
    }
    seen.add(key)
    issues.push({ path: issue.path, message: issue.message })
  }
  return issues
}

// =============================================================================
// Chainette's engines files
// =============================================================================

/** Chainette's in-process-only engine fields: accepted, and ignored with a warning. */
const inProcessOnly = ["dtype", "gpu_memory_utilization", "devices", "enable_reasoning"] as const

/** Chainette's backend names. */
const backendAliases: Readonly<Record<string, string>> = { vllm_api: "vllm", ollama_api: "ollama" }

/**
 * Chainette compatibility, before decoding: backend aliases, a `backend` inferred when omitted, and the in-process-only
 * fields removed with a warning.
 */
const chainette = (
  raw: unknown,
  custom: ReadonlyArray<string>
): { readonly input: unknown; readonly warnings: ReadonlyArray<string> } => {
  if (raw === null || typeof raw !== "object" || !Array.isArray((raw as Record<string, unknown>).engines)) {
    return { input: raw, warnings: [] }
  }
  const warnings: Array<string> = []
  const engines = ((raw as Record<string, unknown>).engines as ReadonlyArray<unknown>).map((entry, i) => {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return entry
    const spec = { ...entry as Record<string, unknown> }
    const engine = `engines[${i}]${typeof spec.name === "string" ? ` (${spec.name})` : ""}`
    const ignored = inProcessOnly.filter((field) => spec[field] !== undefined)
    for (const field of ignored) delete spec[field]
    if (typeof spec.backend === "string" && !custom.includes(spec.backend)) {
      spec.backend = backendAliases[spec.backend] ?? spec.backend
    }
    if (spec.backend === undefined) {
      const inferred = inferBackend(spec, ignored.length > 0)
      if (inferred !== undefined) spec.backend = inferred
    }
    if (ignored.length > 0) {
      warnings.push(
        `${engine}: ${ignored.join(", ")} ${ignored.length === 1 ? "applies" : "apply"} to Chainette's in-process ` +
          `vLLM only; ignored for the ${typeof spec.backend === "string" ? spec.backend : "engine's"} backend`
      )
    }
    return spec
  })
  return { input: { ...raw as Record<string, unknown>, engines }, warnings }
}

/**
 * The backend of an engine written without one: from its endpoint (OpenAI, OpenRouter, Ollama's port 11434, or any
 * other server as `openai-compat`), or in process (`llama-cpp`) for a `.gguf` model or Chainette's in-process fields.
 */
const inferBackend = (spec: Record<string, unknown>, inProcess: boolean): string | undefined => {
  if (typeof spec.endpoint === "string") {
    const endpoint = spec.endpoint
    if (/\/\/api\.openai\.com(?:[:/]|$)/.test(endpoint)) return "openai"
    if (/\/\/openrouter\.ai(?:[:/]|$)/.test(endpoint)) return "openrouter"
    if (/:11434(?:\/|$)/.test(endpoint)) return "ollama"
    return "openai-compat"
  }
  if (typeof spec.model === "string" && (/\.gguf$/i.test(spec.model) || inProcess)) return "llama-cpp"
  return undefined
}

// =============================================================================
// rules beyond the schema
// =============================================================================

/** The problems of a decoded definition that its schema cannot see; `custom` are the custom backends' names. */
export const check = (definition: Definition, custom: ReadonlyArray<string>): Array<PathIssue> => {
  const issues: Array<PathIssue> = []
  const customSet = new Set(custom)
  const known = [...builtinNames, ...custom.filter((name) => !builtinNames.includes(name))]
  const firstIndex = new Map<string, number>()
  definition.engines.forEach((spec, i) => {
    const at = (...path: Array<PropertyKey>): Path => ["engines", i, ...path]
    const seen = firstIndex.get(spec.name)
    if (seen === undefined) firstIndex.set(spec.name, i)
    else {issues.push({
        path: at("name"),
        message: `duplicate engine name ${JSON.stringify(spec.name)} (see engines[${seen}])`
      })}
    if (!known.includes(spec.backend)) {
      const expected = `(expected one of: ${known.join(", ")})`
      issues.push({ path: at("backend"), message: `unknown backend ${JSON.stringify(spec.backend)} ${expected}` })
    } else if (!customSet.has(spec.backend)) {
      for (const issue of builtinIssues(spec, spec.backend as BuiltinBackend)) {
        issues.push({ path: at(...issue.path), message: issue.message })
      }
    }
  })
  if (definition.default !== undefined && !firstIndex.has(definition.default)) {
    const names = [...firstIndex.keys()].join(", ") || "none"
    issues.push({
      path: ["default"],
      message: `unknown engine ${JSON.stringify(definition.default)} (known engines: ${names})`
    })
  }
  return issues
}

const dryRunOnly = ["latency", "tokensPerSecond", "failureRate", "words", "tokenSize"] as const
const httpOnly = ["endpoint", "apiKeyEnv", "headers", "timeout"] as const
const responsesSampling = new Set(["temperature", "topP", "maxTokens"])

/** The problems of an engine on a built-in backend, with paths relative to the engine. */
const builtinIssues = (spec: Spec, backend: BuiltinBackend): Array<PathIssue> => {
  const issues: Array<PathIssue> = []
  const inProcess = backend === "llama-cpp" || backend === "vllm_local"
  if (backend === "dry-run" || inProcess) {
    const message = inProcess
      ? `does not apply to the ${backend} backend (it runs in process)`
      : "does not apply to the dry-run backend"
    for (const field of httpOnly) if (spec[field] !== undefined) issues.push({ path: [field], message })
    if (backend === "dry-run") return issues
    issues.push(...loadOptionIssues(spec.options ?? {}))
  }
  if (spec.model === undefined) {
    const what = inProcess ? ": the path of the GGUF file" : ""
    issues.push({ path: ["model"], message: `is missing (required by the ${backend} backend${what})` })
  }
  if (backend === "openai-compat" && spec.endpoint === undefined) {
    issues.push({ path: ["endpoint"], message: "is missing (required by the openai-compat backend)" })
  }
  for (const field of dryRunOnly) {
    if (spec[field] !== undefined) {
      issues.push({ path: [field], message: `applies to the dry-run backend only (this engine is ${backend})` })
    }
  }
  if (backend === "openai") issues.push(...responsesIssues(spec))
  return issues
}

/** The `openai` backend (the Responses API) has no header timeout and three sampling settings. */
const responsesIssues = (spec: Spec): Array<PathIssue> => {
  const issues: Array<PathIssue> = []
  if (spec.timeout !== undefined) issues.push({ path: ["timeout"], message: "is not supported by the openai backend" })
  for (const field of Object.keys(spec.sampling ?? {})) {
    if (!responsesSampling.has(field) && spec.sampling?.[field as keyof Sampling.Sampling] !== undefined) {
      issues.push({
        path: ["sampling", field],
        message: "is not supported by the openai backend (it accepts temperature, topP and maxTokens)"
      })
    }
  }
  return issues
}

const decodeLoadOptions = Schema.decodeUnknownEither(LlamaCpp.LoadOptions, { errors: "all", onExcessProperty: "error" })

/**
 * The problems of an in-process engine's `options`. A union (e.g. of literals) reports one issue per member: one
 * line per field, the expectations joined.
 */
const loadOptionIssues = (options: unknown): Array<PathIssue> => {
  const decoded = decodeLoadOptions(options)
  if (Either.isRight(decoded)) return []
  const byPath = new Map<string, { path: ReadonlyArray<PropertyKey>; messages: Array<string> }>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(decoded.left)) {
    const key = issue.path.join(".")
    const entry = byPath.get(key) ?? { path: issue.path, messages: [] }
    entry.messages.push(issue.message)
    byPath.set(key, entry)
  }
  return [...byPath.values()].map(({ messages, path }) => {
    const expected = messages.map((m) => /^Expected (.+), actual (.+)$/.exec(m))
    const message = messages.length > 1 && expected.every((m) => m !== null)
      ? `Expected ${expected.map((m) => m![1]).filter((e) => e !== "undefined").join(" | ")}, actual ${expected[0]![2]}`
      : messages[0]!
    return { path: ["options", ...path], message }
  })
}
