/**
 * Run-wide failure detection: a run whose items keep failing for one cause that no row can escape (the engine's
 * endpoint refuses connections or does not resolve, the API key is refused, the model is unknown, the key column is
 * missing, or simply every item failing the same way) stops early instead of writing one error per row.
 *
 * The detector counts failures in a row (any finished item resets it) sharing one signature. A run-wide cause trips it
 * after `threshold` failures; any other repeated failure after `threshold × 5` (at least 50), so that a flaky engine
 * failing one call in two never stops a long run.
 */
import * as Option from "effect/Option"
import * as EngineError from "../../EngineError.js"

/** A failed item as the detector sees it. */
export interface Failure {
  readonly step: string
  readonly error: string
  readonly message: string
  readonly cause?: unknown
}

/** How one failure classifies: `runWide` causes stop sooner; `label` says the cause in a few words. */
export interface Classified {
  readonly key: string
  readonly runWide: boolean
  readonly label: string
}

/** The default `stopAfterFailures`. */
export const defaultThreshold = 10

/** Repeated failures that are not known run-wide causes stop after this many times the threshold (at least 50). */
export const sameWayFactor = 5

const transport: ReadonlyArray<readonly [RegExp, string]> = [
  [/ECONNREFUSED|connection refused/i, "connection refused"],
  [/ENOTFOUND|EAI_AGAIN|getaddrinfo/i, "host not found (DNS)"],
  [/EHOSTUNREACH|ENETUNREACH/i, "host unreachable"],
  [/CERT_|self[- ]signed certificate|certificate has expired/i, "TLS certificate rejected"]
]

const missingKey = /has no (?:key )?"([^"]+)"(?: field)?/

/** Classifies a failure (see the module description). */
export const classify = (failure: Failure): Classified => {
  const text = failure.message
  const base = `${failure.step}\u0000${failure.error}`
  const engine = failure.cause === undefined ? Option.none() : EngineError.fromUnknown(failure.cause)
  for (const [pattern, label] of transport) {
    if (pattern.test(text)) return { key: `${base}\u0000${label}`, runWide: true, label }
  }
  if (Option.isSome(engine)) {
    const e = engine.value
    if (e.reason === "Unauthorized") {
      return {
        key: `${base}\u0000auth`,
        runWide: true,
        label: `the engine refused the credentials (HTTP ${e.status ?? 401})`
      }
    }
    if (e.reason === "BadRequest" && (e.status === 404 || unknownModel.test(e.description ?? ""))) {
      return { key: `${base}\u0000model`, runWide: true, label: `unknown model (HTTP ${e.status ?? 400})` }
    }
  } else if (/\b(401|403)\b|unauthori[sz]ed|invalid api key|incorrect api key/i.test(text)) {
    return { key: `${base}\u0000auth`, runWide: true, label: "the engine refused the credentials" }
  } else if (unknownModel.test(text)) {
    return { key: `${base}\u0000model`, runWide: true, label: "unknown model" }
  }
  const key = missingKey.exec(text)
  if (key !== null) {
    return { key: `${base}\u0000key:${key[1]}`, runWide: true, label: `no row has the key column "${key[1]}"` }
  }
  return { key: `${base}\u0000${normalise(text)}`, runWide: false, label: "every item failed the same way" }
}

const unknownModel =
  /model\b.*\b(not found|does not exist|not exist|unknown|not available)|unknown model|no such model/i

/** The first line of a message with its numbers blanked, so that failures differing only by a row's index match. */
const normalise = (message: string): string => (message.split("\n", 1)[0] ?? "").replace(/\d+/g, "#").slice(0, 200)

/** The first line of a message, at most 300 characters. */
export const firstLine = (message: string): string => {
  const line = (message.split("\n", 1)[0] ?? "").trim()
  return line.length > 300 ? `${line.slice(0, 299)}…` : line
}

/** Counts failures in a row: `fail` returns the one-line cause once the run should stop; `succeed` resets the count. */
export interface Detector {
  readonly succeed: () => void
  readonly fail: (failure: Failure) => string | undefined
}

/** A detector stopping after `threshold` failures in a row (see the module description); 0 never stops. */
export const make = (threshold: number): Detector => {
  let streak = 0
  let key: string | undefined
  return {
    succeed: (): void => {
      streak = 0
      key = undefined
    },
    fail: (failure: Failure): string | undefined => {
      if (threshold <= 0) return undefined
      const c = classify(failure)
      if (c.key !== key) {
        key = c.key
        streak = 0
      }
      streak++
      const limit = c.runWide ? threshold : Math.max(50, threshold * sameWayFactor)
      return streak >= limit
        ? `${c.label}: ${streak} items in a row failed at ${failure.step}: ${firstLine(failure.message)}`
        : undefined
    }
  }
}
