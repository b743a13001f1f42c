/**
 * The lock a `sluice run` holds on its output folder: a `.sluice.lock` file naming the process (`pid`), the chain
 * and the start time. It keeps a second run from writing into the same folder, and it is how `sluice kill <dir>`
 * finds the run to stop. A lock whose process is gone (a run killed with `SIGKILL`) is stale and taken over.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { CliError } from "./CliError.js"

/**
 * The lock file's name inside the output folder.
 *
 * @example
 * ```ts
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * RunLock.fileName // ".sluice.lock"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const fileName = ".sluice.lock"

/**
 * What the lock file holds.
 *
 * @example
 * ```ts
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * const info: RunLock.Info = { pid: 4242, chain: "examples/chains/products.ts:chain", startedAt: 0 }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Info = Schema.Struct({
  pid: Schema.Int,
  chain: Schema.String,
  startedAt: Schema.Number
})

/**
 * What the lock file holds.
 *
 * @since 0.1.0
 * @category models
 */
export type Info = typeof Info.Type

const InfoJson = Schema.parseJson(Info)

/**
 * Takes the lock on `dir` (creating the folder) for the enclosing `Scope`, and removes it when the scope closes.
 * Fails with `Busy` when a live process holds it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * const program = Effect.scoped(RunLock.acquire("out/demo", "examples/chains/products.ts:chain"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire = (
  dir: string,
  chain: string
): Effect.Effect<void, CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = `${dir}/${fileName}`
    const held = yield* read(dir)
    if (Option.isSome(held) && held.value.pid !== process.pid && isAlive(held.value.pid)) {
      return yield* new CliError({
        reason: "Busy",
        path: dir,
        pid: held.value.pid,
        description: `another sluice run (pid ${held.value.pid}) is writing here; stop it with \`sluice kill ${dir}\``
      })
    }
    const startedAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const text = yield* Schema.encode(InfoJson)({ pid: process.pid, chain, startedAt }).pipe(Effect.orDie)
    yield* Effect.acquireRelease(
      fs.makeDirectory(dir, { recursive: true }).pipe(
        Effect.zipRight(fs.writeFileString(path, text + "\n")),
        Effect.mapError((error) =>
          new CliError({
            reason: "NotFound",
            path: dir,
            description: `cannot write the output folder (${error.message})`
          })
        )
      ),
      () =>
        read(dir).pipe(
          Effect.flatMap((now) =>
            Option.isSome(now) && now.value.pid === process.pid ? Effect.ignore(fs.remove(path)) : Effect.void
          )
        )
    )
  })

/**
 * Reads the lock of `dir`, if there is one (a missing or unreadable file is `None`).
 *
 * @example
 * ```ts
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * const holder = RunLock.read("out/demo") // Effect<Option<Info>>
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const read = (dir: string): Effect.Effect<Option.Option<Info>, never, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(`${dir}/${fileName}`)).pipe(
    Effect.flatMap(Schema.decode(InfoJson)),
    Effect.option
  )

/**
 * Tells whether process `pid` is alive (signal 0).
 *
 * @example
 * ```ts
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * RunLock.isAlive(process.pid) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isAlive = (pid: number): boolean => {
  const result = Either.try(() => process.kill(pid, 0))
  return Either.isRight(result) ||
    (typeof result.left === "object" && result.left !== null && (result.left as { code?: unknown }).code === "EPERM")
}

/**
 * Stops the run writing into `dir`: sends it `SIGTERM` (it closes its files and engines and exits with 130, and the
 * same command resumes it later), waits up to `timeout` for it to exit, then, with `force`, sends `SIGKILL`. Fails
 * with `NotRunning` when no live run holds the folder, `KillFailed` when it did not stop.
 *
 * @example
 * ```ts
 * import * as RunLock from "sluice/cli/RunLock"
 *
 * const stopped = RunLock.stop("out/demo", { timeout: "10 seconds", force: false })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const stop = (
  dir: string,
  options: { readonly timeout: Duration.DurationInput; readonly force: boolean }
): Effect.Effect<Info & { readonly forced: boolean }, CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const held = yield* read(dir)
    if (Option.isNone(held) || !isAlive(held.value.pid)) {
      return yield* new CliError({ reason: "NotRunning", path: dir, description: "no sluice run is writing here" })
    }
    const info = held.value
    const signal = (name: NodeJS.Signals) => Effect.sync(() => Either.try(() => process.kill(info.pid, name)))
    const exited = Effect.suspend(() => isAlive(info.pid) ? Effect.fail("alive" as const) : Effect.void).pipe(
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.decode(options.timeout)))),
      Effect.isSuccess
    )
    yield* signal("SIGTERM")
    if (yield* exited) return { ...info, forced: false }
    if (options.force) {
      yield* signal("SIGKILL")
      if (yield* exited) return { ...info, forced: true }
    }
    return yield* new CliError({
      reason: "KillFailed",
      path: dir,
      pid: info.pid,
      description: `the run (pid ${info.pid}) did not stop within ${Duration.format(options.timeout)}` +
        (options.force ? "" : "; use --force to kill it")
    })
  })
