/**
 * Imports a module by file URL (a chain file). Node loads JavaScript by itself. A TypeScript file that no loader in
 * the process handles (the compiled CLI runs without one) is loaded through tsx, an optional peer dependency,
 * registered once on first need; without tsx the failure names the package to install.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"

/** A failed import: `description` is one line for the user. */
export class ImportFailure extends Data.TaggedError("ImportFailure")<{
  readonly description: string
  readonly cause: unknown
}> {}

interface Loader {
  readonly register: () => unknown
}

// held in variables so that bundlers leave the optional peer alone
const tsxEsm = "tsx/esm/api"
const tsxCjs = "tsx/cjs/api"
const typescriptFile = /\.[cm]?tsx?$/
let tsxRegistered = false

const load = (href: string) =>
  Effect.tryPromise({
    try: () => import(href) as Promise<Record<string, unknown>>,
    catch: (cause) => new ImportFailure({ description: `cannot import the module: ${message(cause)}`, cause })
  })

const registerTsx: Effect.Effect<void, ImportFailure> = Effect.suspend(() =>
  tsxRegistered ? Effect.void : Effect.tryPromise({
    try: () => Promise.all([import(tsxEsm) as Promise<Loader>, import(tsxCjs) as Promise<Loader>]),
    catch: (cause) =>
      new ImportFailure({
        description: "a TypeScript chain file needs the tsx package to load it: npm install --save-dev tsx " +
          "(or write the chain file as .js/.mjs)",
        cause
      })
  }).pipe(Effect.map(([esm, cjs]) => {
    if (tsxRegistered) return
    tsxRegistered = true
    esm.register()
    cjs.register()
  }))
)

/** Imports the module at `href`, through tsx when it is a TypeScript file Node cannot load by itself. */
export const importModule = (href: string): Effect.Effect<Record<string, unknown>, ImportFailure> =>
  load(href).pipe(
    Effect.catchIf(
      (failure) =>
        Predicate.hasProperty(failure.cause, "code") && failure.cause.code === "ERR_UNKNOWN_FILE_EXTENSION" &&
        typescriptFile.test(new URL(href).pathname),
      // Node remembers the failed URL: the retry imports it under a fragment, a distinct module URL
      () => Effect.zipRight(registerTsx, load(`${href}#tsx`))
    )
  )

const message = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)
