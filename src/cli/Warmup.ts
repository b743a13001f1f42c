/**
 * `sluice warmup -f engines.yml [-e name]… [--probe]`: checks an engines file and starts its engines now, reporting
 * how long each took; with `--probe` it also sends each engine a one-word request, which makes a local server
 * (vLLM, Ollama) load its model. sluice's engines are clients of servers that run on their own: the clients
 * started here stop when the command exits (a `sluice run` starts its own on first use).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as EngineRegistry from "../EngineRegistry.js"
import { CliError } from "./CliError.js"
import * as Engines from "./Engines.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"

/**
 * The `warmup` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Warmup from "sluice/cli/Warmup"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Warmup.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "warmup",
  {
    file: Options.text("file").pipe(
      Options.withAlias("f"),
      Options.withDescription("the engines file (engines.yml or JSON)")
    ),
    engines: Options.text("engine").pipe(
      Options.withAlias("e"),
      Options.repeated,
      Options.withDescription("an engine to start (repeatable; all of them when omitted)")
    ),
    probe: Options.boolean("probe").pipe(
      Options.withDescription("also send each engine a one-word request (a local server then loads its model)")
    )
  },
  ({ engines, file, probe }) =>
    Effect.gen(function*() {
      const registry = yield* EngineRegistry.EngineRegistry
      const names = engines.length === 0 ? registry.engines : engines
      const unknown = names.find((name) => !registry.engines.includes(name))
      if (unknown !== undefined) {
        return yield* new CliError({
          reason: "Usage",
          path: file,
          description: `no engine named ${JSON.stringify(unknown)} (engines: ${registry.engines.join(", ")})`
        })
      }
      const rows: Array<ReadonlyArray<string>> = []
      const failures: Array<unknown> = []
      for (const name of names) {
        const [started, startError] = yield* timed(registry.warmup([name]))
        const [probed, probeError] = probe && startError === undefined
          ? yield* timed(Effect.scoped(
            Effect.flatMap(registry.get(name), (model) => model.generateText({ prompt: "ping" }))
          ))
          : [undefined, undefined] as const
        const spec = registry.specs.find((s) => s.name === name)
        const error = startError ?? probeError
        if (error !== undefined) failures.push(error)
        rows.push([
          name,
          spec?.backend ?? "-",
          spec?.model ?? "-",
          startError === undefined ? Progress.formatDuration(started) : "failed",
          !probe || startError !== undefined
            ? "-"
            : probeError === undefined
            ? Progress.formatDuration(probed!)
            : "failed",
          error === undefined ? "ok" : firstLine(error)
        ])
      }
      yield* Output.lines(Output.table([["engine", "backend", "model", "start", "probe", "status"], ...rows]))
      if (failures.length > 0) return yield* Effect.fail(failures[0])
    }).pipe(Effect.provide(Engines.layer(file)))
).pipe(Command.withDescription("Check an engines file and start its engines now (--probe: send each a request)"))

const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.timed(effect).pipe(
    Effect.map(([duration]) => [Duration.toMillis(duration), undefined] as const),
    Effect.catchAll((error) => Effect.succeed([0, error] as const))
  )

const firstLine = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split("\n", 1)[0] ?? ""
