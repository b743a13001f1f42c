/**
 * The `sluice` command line: `run`, `inspect`, `inspect-dag`, `warmup`, `kill`, `serve`, `studio`, and for durable
 * runs `runner`, `status` and `prune`.
 *
 * Exit codes (see `CliError.exitCode`): 0 success, 1 the run finished with failed items, 2 usage or bad input (one
 * line on stderr names the culprit), 3 a failure of the run itself, 130 interrupted (resumable).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { createRequire } from "node:module"
import { exitCode } from "./CliError.js"
import * as Inspect from "./Inspect.js"
import * as Kill from "./Kill.js"
import * as Outcome from "./Outcome.js"
import * as Output from "./Output.js"
import * as Run from "./Run.js"
import * as Serve from "./Serve.js"
import * as Store from "./Store.js"
import * as Studio from "./Studio.js"
import * as Warmup from "./Warmup.js"

const { version } = createRequire(import.meta.url)("../../package.json") as { readonly version: string }

const sluice = Command.make("sluice").pipe(
  Command.withDescription(
    "Typed, streaming AI pipelines: run a chain over a dataset, inspect a run, check engines. Exit codes: 0 success, " +
      "1 some items failed, 2 usage or bad input, 3 the run failed, 130 interrupted (run again to resume)."
  ),
  Command.withSubcommands([
    Run.command,
    Inspect.command,
    Inspect.dagCommand,
    Warmup.command,
    Kill.command,
    Serve.command,
    Store.runnerCommand,
    Store.statusCommand,
    Store.pruneCommand,
    Studio.command
  ])
)

const cli = Command.run(sluice, { name: "sluice", version })

// A reader that goes away (`sluice run … --json-logs | head`) must not kill a batch run: its output is dropped.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error
  })
}

const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.as(exitCode.success as number),
  Effect.catchAllCause((cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const outcome = Outcome.fromCause(cause)
    return Effect.as(
      outcome.message === undefined ? Effect.void : Output.errLines([`sluice: ${outcome.message}`]),
      outcome.code
    )
  }),
  Effect.withConsole(Output.console),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.replace(Logger.defaultLogger, Output.logger)))
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit) => {
    process.exit(
      Exit.isSuccess(exit)
        ? (typeof exit.value === "number" ? exit.value : exitCode.success)
        : Cause.isInterruptedOnly(exit.cause)
        ? exitCode.interrupted
        : Outcome.fromCause(exit.cause).code
    )
  }
})
