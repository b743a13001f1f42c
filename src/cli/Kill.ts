/**
 * `sluice kill <dir> [--timeout seconds] [--force]`: stops the `sluice run` writing into `dir` (found through the
 * folder's `.sluice.lock`, see `RunLock`). The run gets `SIGTERM`: it stops its work, closes its files, releases
 * (flushes) its engines and exits with 130; running the same command again resumes it. With `--force`, a run that
 * has not exited within the timeout gets `SIGKILL` (it then loses at most the items in flight).
 *
 * sluice does not spawn model servers: its engines are HTTP clients living inside the run's process, so stopping
 * the run is what releases them. Servers you started yourself (vLLM, Ollama) keep running.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { DurableError } from "../DurableError.js"
import type { CliError } from "./CliError.js"
import * as Output from "./Output.js"
import * as RunLock from "./RunLock.js"
import * as Store from "./Store.js"

/**
 * The `kill` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Kill from "sluice/cli/Kill"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Kill.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "kill",
  {
    dir: Args.text({ name: "dir" }).pipe(
      Args.withDescription("the output folder of the run to stop (with --store: the durable run's id)")
    ),
    timeout: Options.integer("timeout").pipe(
      Options.withDefault(10),
      Options.withDescription("seconds to wait for the run to exit")
    ),
    force: Options.boolean("force").pipe(Options.withDescription("SIGKILL the run if it has not exited in time")),
    store: Options.text("store").pipe(
      Options.optional,
      Options.withDescription(
        "kill a durable run: the argument is then its run id, on this store (SQLite or PostgreSQL)"
      )
    )
  },
  ({ dir, force, store, timeout }): Effect.Effect<void, CliError | DurableError, FileSystem.FileSystem> =>
    Option.isSome(store)
      ? Store.kill(store.value, dir).pipe(
        Effect.zipRight(
          Output.lines([
            `killed the durable run ${dir}: its chunks stop within a second; submitting it again resumes it`
          ])
        )
      )
      : RunLock.stop(dir, { timeout: `${Math.max(0, timeout)} seconds`, force }).pipe(
        Effect.flatMap((info) =>
          Output.lines([
            info.forced
              ? `killed the run of ${info.chain} (pid ${info.pid}) writing to ${dir}; items in flight were lost, ` +
                `the rest resumes with the same command`
              : `stopped the run of ${info.chain} (pid ${info.pid}) writing to ${dir}; the same command resumes it`
          ])
        )
      )
).pipe(Command.withDescription("Stop the sluice run writing into a folder (it exits cleanly and can be resumed)"))
