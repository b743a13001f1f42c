/**
 * Runs the `sluice` CLI as a real process from the repository root (`node bin/sluice.js …`, stdout and stderr
 * piped, so not a TTY), with `NO_COLOR=1` unless `env` says otherwise; interrupting the effect kills the process.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("../..", import.meta.url))

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

export const sluiceWith = (env: Readonly<Record<string, string | undefined>>, ...args: ReadonlyArray<string>) =>
  Effect.async<Result>((resume) => {
    const started = performance.now()
    const child = spawn(process.execPath, [`${root}bin/sluice.js`, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr, ms: performance.now() - started })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

export const sluice = (...args: ReadonlyArray<string>) => sluiceWith({}, ...args)
