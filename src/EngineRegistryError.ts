/**
 * The typed error of the {@link EngineRegistry}: an unknown engine name, an invalid `engines.yml` (with its file,
 * line and field), a missing API key variable, or an engine that failed to start.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("sluice/EngineRegistryError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why the registry failed:
 *
 * - `UnknownEngine`: no engine has that name (`known` lists the names there are);
 * - `InvalidConfig`: an engine definition is invalid (YAML/JSON syntax, unknown backend, missing or mistyped field);
 *   `file`, `line`, `column` and `field` say where, `issues` lists every problem found;
 * - `ReadFailed`: the definition file could not be read;
 * - `MissingApiKey`: the environment variable named by `apiKeyEnv` (`variable`) is not set or empty;
 * - `StartFailed`: the engine's Layer failed to build (`cause` holds the backend's error).
 *
 * @example
 * ```ts
 * import * as EngineRegistryError from "sluice/EngineRegistryError"
 *
 * const reason: EngineRegistryError.Reason = "UnknownEngine"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The schema of {@link Reason}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistryError from "sluice/EngineRegistryError"
 *
 * Schema.is(EngineRegistryError.Reason)("MissingApiKey") // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reason = Schema.Literal("UnknownEngine", "InvalidConfig", "ReadFailed", "MissingApiKey", "StartFailed")

/**
 * One problem found in an engine definition: where (`line` and `column` are 1-based, absent for definitions given
 * in code) and which `field` (e.g. `engines[1].model`).
 *
 * @example
 * ```ts
 * import type * as EngineRegistryError from "sluice/EngineRegistryError"
 *
 * const issue: EngineRegistryError.Issue = { field: "engines[1].model", line: 7, column: 5, message: "is missing" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Issue = typeof Issue.Type

/**
 * The schema of {@link Issue}.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as EngineRegistryError from "sluice/EngineRegistryError"
 *
 * Schema.is(EngineRegistryError.Issue)({ field: "engines[0].backend", message: "is missing" }) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Issue = Schema.Struct({
  field: Schema.String,
  message: Schema.String,
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.Number)
})

/**
 * The registry failed. See {@link Reason} for what each reason carries; `message` reads like
 * `engines.yml:7:5: engines[1].model: is missing`.
 *
 * @example
 * ```ts
 * import { EngineRegistryError } from "sluice/EngineRegistryError"
 *
 * const error = new EngineRegistryError({ reason: "UnknownEngine", engine: "gpt", known: ["fast", "local"] })
 * error.message // unknown engine "gpt" (known engines: fast, local)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class EngineRegistryError extends Schema.TaggedError<EngineRegistryError>("sluice/EngineRegistryError")(
  "EngineRegistryError",
  {
    reason: Reason,
    engine: Schema.optional(Schema.String),
    known: Schema.optional(Schema.Array(Schema.String)),
    file: Schema.optional(Schema.String),
    line: Schema.optional(Schema.Number),
    column: Schema.optional(Schema.Number),
    field: Schema.optional(Schema.String),
    issues: Schema.optional(Schema.Array(Issue)),
    variable: Schema.optional(Schema.String),
    description: Schema.optional(Schema.String),
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId

  /**
   * Only a failed start may pass on a later attempt (the backend's own failure may be transient); a bad name, a bad
   * definition or a missing key will not fix themselves.
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "StartFailed"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "UnknownEngine": {
        const known = this.known === undefined || this.known.length === 0
          ? "no engines are defined"
          : `known engines: ${this.known.join(", ")}`
        return `unknown engine ${JSON.stringify(this.engine ?? "")} (${known})`
      }
      case "InvalidConfig": {
        const issues = this.issues ?? []
        const first = locate(this.file, this.line, this.column, this.field, this.description ?? "invalid definition")
        if (issues.length <= 1) return first
        return [
          `${first} (${issues.length} problems)`,
          ...issues.slice(1).map((issue) =>
            `  ${locate(this.file, issue.line, issue.column, issue.field, issue.message)}`
          )
        ].join("\n")
      }
      case "ReadFailed":
        return `cannot read ${this.file ?? "the engine definitions"}${suffix(this.description)}`
      case "MissingApiKey":
        return `engine ${JSON.stringify(this.engine ?? "")}: the environment variable ${this.variable ?? "?"} ` +
          `(apiKeyEnv) is ${this.description ?? "not set"}`
      case "StartFailed":
        return `engine ${JSON.stringify(this.engine ?? "")} failed to start${suffix(this.description)}`
    }
  }
}

/**
 * Tells whether a value is an {@link EngineRegistryError}.
 *
 * @example
 * ```ts
 * import { EngineRegistryError, isEngineRegistryError } from "sluice/EngineRegistryError"
 *
 * isEngineRegistryError(new EngineRegistryError({ reason: "UnknownEngine", engine: "x" })) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isEngineRegistryError = (u: unknown): u is EngineRegistryError => Predicate.hasProperty(u, TypeId)

// =============================================================================
// internal
// =============================================================================

const suffix = (description: string | undefined): string => description === undefined ? "" : `: ${description}`

const locate = (
  file: string | undefined,
  line: number | undefined,
  column: number | undefined,
  field: string | undefined,
  message: string
): string => {
  const position = line === undefined ? "" : column === undefined ? `:${line}` : `:${line}:${column}`
  const where = file === undefined ? (position === "" ? "" : `line ${position.slice(1)}: `) : `${file}${position}: `
  return `${where}${field === undefined || field === "" ? "" : `${field}: `}${message}`
}
