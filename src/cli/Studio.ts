/**
 * `sluice studio [dir] [--port 8788] [--host 127.0.0.1]`: a web page over the run folders in `dir` (default `.`):
 * the runs with status, progress, rows per second and errors; one run live while it runs; rows by id.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Engines from "./Engines.js"
import * as Output from "./Output.js"

/**
 * The `studio` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Studio from "sluice/cli/Studio"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Studio.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "studio",
  {
    dir: Args.text({ name: "dir" }).pipe(
      Args.withDescription("a folder of run folders, or one run folder (default: the current folder)"),
      Args.optional
    ),
    port: Options.integer("port").pipe(Options.withDefault(8788), Options.withDescription("the port (0: any free)")),
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("the address to bind (default 127.0.0.1: this machine only)")
    ),
    pollMs: Options.integer("poll-ms").pipe(
      Options.withDefault(1000),
      Options.withDescription("how often a live view re-reads its run")
    )
  },
  ({ dir, host, pollMs, port }) => {
    const folder = Option.getOrElse(dir, () => ".")
    return Engines.requireFile(folder, "folder").pipe(
      Effect.zipRight(Effect.promise(() => import("../studio/launch.js"))),
      Effect.flatMap((studio) =>
        studio.launch({
          dir: folder,
          port,
          host,
          pollMs,
          onListening: (url) => Output.lines([`sluice studio: ${url} (runs in ${folder})`])
        })
      )
    )
  }
).pipe(Command.withDescription("A web page over run folders: runs, live progress, rows by id"))
