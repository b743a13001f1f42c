/**
 * The command-line options the commands share, and the shapes most options take: an optional text or integer with
 * its description, the `--engines` file, the `--host` to bind.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as Option from "effect/Option"

/**
 * An optional text option.
 *
 * @example
 * ```ts
 * import * as Flags from "sluice/cli/Flags"
 *
 * const key = Flags.optionalText("key", "the column holding each row's id")
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const optionalText = (name: string, description: string): Options.Options<Option.Option<string>> =>
  Options.text(name).pipe(Options.optional, Options.withDescription(description))

/**
 * An optional integer option.
 *
 * @example
 * ```ts
 * import * as Flags from "sluice/cli/Flags"
 *
 * const limit = Flags.optionalInteger("limit", "read at most this many rows")
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const optionalInteger = (name: string, description: string): Options.Options<Option.Option<number>> =>
  Options.integer(name).pipe(Options.optional, Options.withDescription(description))

/**
 * `--engines <file>`: an engines file (engines.yml or JSON); without it, models run on the `dry-run` engine.
 *
 * @example
 * ```ts
 * import * as Flags from "sluice/cli/Flags"
 *
 * const options = { engines: Flags.engines }
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const engines: Options.Options<Option.Option<string>> = optionalText(
  "engines",
  "an engines file (engines.yml or JSON); without it every model runs on dry-run"
)

/**
 * `--host <address>`, `127.0.0.1` (this machine only) unless told otherwise.
 *
 * @example
 * ```ts
 * import * as Flags from "sluice/cli/Flags"
 *
 * const host = Flags.host("the address to bind")
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const host = (description: string): Options.Options<string> =>
  Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription(description))
