/**
 * Durable runs from the command line (see `Durable`):
 *
 * - `sluice runner --store <postgres url | sqlite file> --chain <module:export> [--host h --port p]`: a runner
 *   process serving the chains until SIGINT/SIGTERM (a graceful shutdown hands its shards to the other runners);
 * - `sluice status <run> --store …`: a run's status and counts, from any process;
 * - `sluice run … --store …` (in `Run`) submits a run durably and follows it; `sluice kill <run> --store …` (in
 *   `Kill`) kills it wherever it runs.
 *
 * The durable machinery (@effect/cluster, the SQL drivers) loads only when one of these runs.
 *
 * A store is a PostgreSQL URL (`postgres://…`, several runner processes) or a SQLite file (one process: the run
 * happens in the submitting process).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Chain from "../Chain.js"
import type * as Durable from "../Durable.js"
import * as Runner from "../Runner.js"
import { CliError } from "./CliError.js"
import * as Engines from "./Engines.js"
import * as Flags from "./Flags.js"
import * as Output from "./Output.js"

/**
 * Whether a store is PostgreSQL (a `postgres://` or `postgresql://` URL) rather than a SQLite file.
 *
 * @example
 * ```ts
 * import * as Store from "sluice/cli/Store"
 *
 * Store.isPostgres("postgres://localhost/sluice") // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const isPostgres = (store: string): boolean => /^postgres(ql)?:\/\//.test(store)

const load = Effect.promise(() => import("../Durable.js"))

const layerOf = (
  D: typeof Durable,
  store: string,
  runner?: { readonly host: string; readonly port: number } | undefined
) =>
  isPostgres(store)
    ? D.layerPostgres({ url: store, runner })
    : D.layerSqlite({ filename: store.replace(/^sqlite:/, "") })

/**
 * Runs a chain durably on a store (`Durable.run` on its backend: a SQLite file runs it in this process, a
 * PostgreSQL URL submits it to the runners).
 *
 * @example
 * ```ts
 * import type * as Chain from "sluice/Chain"
 * import * as Store from "sluice/cli/Store"
 *
 * declare const chain: Chain.Chain
 * const summary = Store.run("runs.db", chain, { input: "data.jsonl", output: "out" })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (store: string, chain: Chain.Chain, options: Durable.Options) =>
  Effect.flatMap(load, (D) => D.run(chain, options).pipe(Effect.provide(layerOf(D, store))))

const storeOption = Options.text("store").pipe(
  Options.withDescription("the store: a PostgreSQL URL (postgres://user@host:5432/db) or a SQLite file")
)

/**
 * The `runner` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Store from "sluice/cli/Store"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Store.runnerCommand]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const runnerCommand = Command.make(
  "runner",
  {
    store: storeOption,
    chains: Options.text("chain").pipe(
      Options.repeated,
      Options.withDescription("a chain this runner serves, as module:export (repeatable; every runner serves the same)")
    ),
    host: Flags.host("the address other runners reach this one at"),
    port: Options.integer("port").pipe(Options.withDefault(34431), Options.withDescription("the port to listen on")),
    concurrency: Flags.optionalInteger(
      "concurrency",
      "chunks this runner runs at once (default: as many as it is given)"
    ),
    engines: Flags.engines
  },
  (args) =>
    Effect.gen(function*() {
      if (args.chains.length === 0) {
        return yield* new CliError({
          reason: "Usage",
          description: "give the chains to serve with --chain module:export"
        })
      }
      const chains = yield* Effect.forEach(args.chains, Runner.loadChain)
      const engines = Option.getOrUndefined(args.engines)
      const maxChunks = Option.getOrUndefined(args.concurrency)
      const where = isPostgres(args.store) ? `${args.host}:${args.port}` : "this process"
      const D = yield* load
      yield* Layer.launch(
        D.serve(chains, { maxChunks }).pipe(
          Layer.provide(layerOf(D, args.store, { host: args.host, port: args.port })),
          Layer.provide(Engines.layer(engines)),
          Layer.tap(() =>
            Output.errLines([`runner ${where}: serving ${chains.map((c) => c.name).join(", ")} (Ctrl-C to stop)`])
          )
        )
      )
    })
).pipe(Command.withDescription("Start a runner process serving chains for durable runs (stops on SIGINT/SIGTERM)"))

/**
 * The `status` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Store from "sluice/cli/Store"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Store.statusCommand]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const statusCommand = Command.make(
  "status",
  {
    runId: Args.text({ name: "run" }).pipe(Args.withDescription("the run id")),
    store: storeOption
  },
  ({ runId, store }) =>
    Effect.flatMap(load, (D) => D.status(runId).pipe(Effect.provide(D.layerSql(store)))).pipe(
      Effect.flatMap((s) =>
        Output.lines([
          `run ${s.runId}: ${s.chain} ${s.status} (attempt ${s.attempt}) → ${s.output ?? "?"}`,
          `  ${s.flattened + s.errors}/${s.total} items finished (${s.flattened} done, ${s.errors} errors)`,
          ...Object.entries(s.steps).map(([id, n]) => `  ${id}: ${n}`)
        ])
      )
    )
).pipe(Command.withDescription("Show a durable run's status from its store"))

/**
 * Kills a durable run from its store (see `Durable.kill`).
 *
 * @example
 * ```ts
 * import * as Store from "sluice/cli/Store"
 *
 * const program = Store.kill("postgres://localhost/sluice", "run-1")
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const kill = (store: string, runId: string) =>
  Effect.flatMap(load, (D) => D.kill(runId).pipe(Effect.provide(D.layerSql(store))))

/**
 * The `prune` command: retention of finished durable runs (see `Durable.prune`).
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Store from "sluice/cli/Store"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Store.pruneCommand]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const pruneCommand = Command.make(
  "prune",
  {
    store: storeOption,
    days: Options.integer("older-than-days").pipe(
      Options.withDefault(7),
      Options.withDescription("delete the runs finished (complete or killed) more than this many days ago")
    )
  },
  ({ days, store }) =>
    Effect.flatMap(
      load,
      (D) => D.prune({ olderThan: `${Math.max(0, days)} days` }).pipe(Effect.provide(D.layerSql(store)))
    ).pipe(
      Effect.flatMap((r) =>
        Output.lines([`pruned ${r.runs} runs and ${r.messages} workflow messages finished over ${days} days ago`])
      )
    )
).pipe(Command.withDescription("Delete finished durable runs (engine messages, staged inputs, records) from a store"))
