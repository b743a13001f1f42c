/**
 * Resolving the engine of every LLM step of a chain when it runs: through the `EngineRegistry` when one is provided
 * and knows the name, else the `LanguageModel` in context.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Chain from "../../Chain.js"
import { ChainError } from "../../ChainError.js"
import * as EngineRegistry from "../../EngineRegistry.js"
import { flatSteps } from "./render.js"

/** See `Chain.resolveEngines`. */
export const resolveEngines = (
  self: Chain.Chain,
  engines?: Readonly<Record<string, string>> | undefined
): Effect.Effect<ReadonlyMap<string, Chain.ResolvedEngine>, ChainError, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.serviceOption(EngineRegistry.EngineRegistry)
    const context = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const resolved = new Map<string, Chain.ResolvedEngine>()
    const started = new Map<string, LanguageModel.Service>()
    for (const step of flatSteps(self.steps)) {
      if (step._tag !== "LlmStep") continue
      const name = engines?.[step.id] ?? step.engine
      if (name !== undefined && Option.isSome(registry) && registry.value.engines.includes(name)) {
        let service = started.get(name)
        if (service === undefined) {
          service = yield* start(self, step, registry.value, name)
          started.set(name, service)
        }
        resolved.set(step.id, { step: step.id, name, source: "registry", service })
      } else if (Option.isSome(context)) {
        resolved.set(step.id, { step: step.id, name, source: "context", service: context.value })
      } else {
        const known = Option.isSome(registry) ? ` (the registry has: ${registry.value.engines.join(", ")})` : ""
        return yield* new ChainError({
          chain: self.name,
          step: step.id,
          reason: "NoEngine",
          description: name === undefined
            ? "the step names no engine and there is no LanguageModel in context"
            : `no engine "${name}" in an EngineRegistry${known} and no LanguageModel in context`
        })
      }
    }
    return resolved
  })

const start = (
  self: Chain.Chain,
  step: Chain.LlmStep,
  registry: EngineRegistry.Service,
  name: string
): Effect.Effect<LanguageModel.Service, ChainError, Scope.Scope> =>
  registry.get(name).pipe(
    Effect.mapError((cause) =>
      new ChainError({
        chain: self.name,
        step: step.id,
        reason: "EngineFailed",
        description: `engine "${name}" failed to start: ${cause.message}`,
        cause
      })
    )
  )
