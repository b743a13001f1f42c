/**
 * The durable runner's tables, next to the workflow engine's own (`cluster_*`) in the same SQL database:
 *
 * - `sluice_runs`: one row per run (its chain, workflow name, attempt, status, input count, settings as JSON);
 * - `sluice_inputs`: the input rows staged by the submitter (so runners on other machines need no access to the
 *   input file or to records given in code);
 * - `sluice_records`: every output, keyed by (run, kind, row id, step config hash), where `kind` is a step id,
 *   `flattened` or `errors`. Writes are `INSERT … ON CONFLICT DO NOTHING`, so an activity run again after a crash
 *   writes each row once.
 *
 * The SQL is the subset SQLite and PostgreSQL share.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { DurableError } from "../../DurableError.js"

/** A run's row in `sluice_runs`. */
export interface RunRow {
  readonly runId: string
  readonly chain: string
  readonly workflow: string
  readonly attempt: number
  readonly status: string
  readonly total: number
  readonly staged: boolean
  readonly submittedAt: number
  readonly updatedAt: number
  readonly info: Record<string, unknown>
}

/** One output record to store. */
export interface StoredRecord {
  readonly kind: string
  readonly rowId: string
  readonly hash: string
  readonly idx: number
  readonly record: unknown
}

/** A staged input row. */
export interface InputRow {
  readonly idx: number
  readonly rowId: string
  readonly data: unknown
}

const statements = [
  `CREATE TABLE IF NOT EXISTS sluice_runs (
    run_id TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    workflow TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    staged INTEGER NOT NULL,
    submitted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    info TEXT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS sluice_inputs (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    row_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
  )`,
  `CREATE TABLE IF NOT EXISTS sluice_records (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    row_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    idx INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, row_id, hash)
  )`,
  `CREATE INDEX IF NOT EXISTS sluice_records_by_idx ON sluice_records (run_id, kind, idx)`
]

/** Creates the tables (idempotent; retried, since two processes may race on `CREATE TABLE IF NOT EXISTS`). */
export const migrate: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  for (const statement of statements) yield* sql.unsafe(statement)
}).pipe(Effect.retry(Schedule.recurs(3).pipe(Schedule.addDelay(() => "50 millis"))))

/**
 * Builds the cluster's layer again when building it died of an SQL error: runners started together on a fresh
 * database race on the cluster's own migrations (one creates `cluster_migrations` or records a migration while the
 * other does the same, and the cluster turns the loser's error into a defect). The next build (a fresh one: a layer
 * is otherwise built once per run) finds them done.
 */
export const retryMigrationRace = <A, E, R>(layer: Layer.Layer<A, E, R>, attempts = 5): Layer.Layer<A, E, R> =>
  attempts <= 0 ? layer : Layer.catchAllCause(layer, (cause) => {
    const defect = Cause.squash(cause)
    const isSqlError = typeof defect === "object" && defect !== null &&
      (defect as { _tag?: unknown })._tag === "SqlError"
    return Cause.isDie(cause) && isSqlError
      ? Layer.unwrapEffect(
        Effect.as(
          Effect.sleep(Duration.millis(100 * (6 - attempts))),
          retryMigrationRace(Layer.fresh(layer), attempts - 1)
        )
      )
      : Layer.failCause(cause)
  })

const toRun = (row: Record<string, unknown>): RunRow => ({
  runId: String(row.run_id),
  chain: String(row.chain),
  workflow: String(row.workflow),
  attempt: Number(row.attempt),
  status: String(row.status),
  total: Number(row.total),
  staged: Number(row.staged) === 1,
  submittedAt: Number(row.submitted_at),
  updatedAt: Number(row.updated_at),
  info: JSON.parse(String(row.info)) as Record<string, unknown>
})

/** The run's row, if any. */
export const getRun = (runId: string): Effect.Effect<RunRow | undefined, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<Record<string, unknown>>`SELECT * FROM sluice_runs WHERE run_id = ${runId}`,
      (rows) => rows.length === 0 ? undefined : toRun(rows[0]!)
    ))

/** Every run, newest first. */
export const listRuns: Effect.Effect<ReadonlyArray<RunRow>, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(
      sql<Record<string, unknown>>`SELECT * FROM sluice_runs ORDER BY submitted_at DESC`,
      (rows) => rows.map(toRun)
    )
)

/** Inserts or replaces the run's row. */
export const putRun = (run: RunRow): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(
      sql`INSERT INTO sluice_runs (run_id, chain, workflow, attempt, status, total, staged, submitted_at, updated_at, info)
        VALUES (${run.runId}, ${run.chain}, ${run.workflow}, ${run.attempt}, ${run.status}, ${run.total},
          ${run.staged ? 1 : 0}, ${run.submittedAt}, ${run.updatedAt}, ${JSON.stringify(run.info)})
        ON CONFLICT (run_id) DO UPDATE SET chain = excluded.chain, workflow = excluded.workflow,
          attempt = excluded.attempt, status = excluded.status, total = excluded.total, staged = excluded.staged,
          updated_at = excluded.updated_at, info = excluded.info`
    ))

/** Sets the run's status (only while it is `running`, unless `force`). */
export const setStatus = (
  runId: string,
  status: string,
  now: number,
  force = false
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(
      force
        ? sql`UPDATE sluice_runs SET status = ${status}, updated_at = ${now} WHERE run_id = ${runId}`
        : sql`UPDATE sluice_runs SET status = ${status}, updated_at = ${now}
            WHERE run_id = ${runId} AND status = 'running'`
    ))

/** The run's status, `undefined` when the run is unknown. */
export const statusOf = (runId: string): Effect.Effect<string | undefined, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly status: string }>`SELECT status FROM sluice_runs WHERE run_id = ${runId}`,
      (rows) => rows[0]?.status
    ))

/** Stages input rows (idempotent). */
export const putInputs = (
  runId: string,
  rows: ReadonlyArray<InputRow>
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  rows.length === 0 ? Effect.void : Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(
      sql`INSERT INTO sluice_inputs ${
        sql.insert(rows.map((r) => ({ run_id: runId, idx: r.idx, row_id: r.rowId, data: JSON.stringify(r.data) })))
      } ON CONFLICT DO NOTHING`
    ))

/** The staged input rows with `from <= idx < to`, in order. */
export const inputs = (
  runId: string,
  from: number,
  to: number
): Effect.Effect<ReadonlyArray<InputRow>, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly idx: number; readonly row_id: string; readonly data: string }>`
        SELECT idx, row_id, data FROM sluice_inputs
        WHERE run_id = ${runId} AND idx >= ${from} AND idx < ${to} ORDER BY idx`,
      (rows) => rows.map((r) => ({ idx: Number(r.idx), rowId: r.row_id, data: JSON.parse(r.data) as unknown }))
    ))

/** Writes records (idempotent: a record already stored under the same key is kept as it is). */
export const putRecords = (
  runId: string,
  records: ReadonlyArray<StoredRecord>
): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  records.length === 0 ? Effect.void : Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const rows = records.map((r) => ({
      run_id: runId,
      kind: r.kind,
      row_id: r.rowId,
      hash: r.hash,
      idx: r.idx,
      record: JSON.stringify(r.record)
    }))
    // bounded statements: both databases cap the number of bound parameters
    const batches: Array<typeof rows> = []
    for (let i = 0; i < rows.length; i += 1000) batches.push(rows.slice(i, i + 1000))
    return Effect.forEach(
      batches,
      (batch) => sql`INSERT INTO sluice_records ${sql.insert(batch)} ON CONFLICT DO NOTHING`,
      { discard: true }
    )
  })

/** The records of `kind` with `from <= idx < to` under one of `hashes`, in index order. */
export const records = (
  runId: string,
  kind: string,
  hashes: ReadonlyArray<string>,
  from: number,
  to: number
): Effect.Effect<
  ReadonlyArray<{ readonly rowId: string; readonly idx: number; readonly record: unknown }>,
  SqlError,
  SqlClient.SqlClient
> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly row_id: string; readonly idx: number; readonly record: string }>`
        SELECT row_id, idx, record FROM sluice_records
        WHERE run_id = ${runId} AND kind = ${kind} AND ${sql.in("hash", hashes)} AND idx >= ${from} AND idx < ${to}
        ORDER BY idx`,
      (rows) => rows.map((r) => ({ rowId: r.row_id, idx: Number(r.idx), record: JSON.parse(r.record) as unknown }))
    ))

/** Records stored per kind under the given hash of each kind. */
export const counts = (
  runId: string,
  hashes: Readonly<Record<string, string>>
): Effect.Effect<Record<string, number>, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly kind: string; readonly hash: string; readonly n: number | string }>`
        SELECT kind, hash, COUNT(*) AS n FROM sluice_records WHERE run_id = ${runId} GROUP BY kind, hash`,
      (rows) => {
        const out: Record<string, number> = {}
        for (const row of rows) {
          if (hashes[row.kind] === undefined || hashes[row.kind] === row.hash || row.kind === "errors") {
            out[row.kind] = (out[row.kind] ?? 0) + Number(row.n)
          }
        }
        return out
      }
    ))

/** Flattened rows by `_status` (complete / filtered) under the given hash. */
export const finished = (
  runId: string,
  hash: string
): Effect.Effect<{ readonly complete: number; readonly filtered: number }, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly n: number | string }>`
        SELECT COUNT(*) AS n FROM sluice_records
        WHERE run_id = ${runId} AND kind = 'flattened' AND hash = ${hash} AND record LIKE '%"_status":"filtered"%'`,
      (rows) => Number(rows[0]?.n ?? 0)
    ).pipe(
      Effect.zip(
        Effect.map(
          sql<{ readonly n: number | string }>`
          SELECT COUNT(*) AS n FROM sluice_records WHERE run_id = ${runId} AND kind = 'flattened' AND hash = ${hash}`,
          (rows) => Number(rows[0]?.n ?? 0)
        )
      ),
      Effect.map(([filtered, all]) => ({ complete: all - filtered, filtered }))
    ))

/** Deletes a run's inputs, records and row. */
export const deleteRun = (runId: string): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.all([
      sql`DELETE FROM sluice_inputs WHERE run_id = ${runId}`,
      sql`DELETE FROM sluice_records WHERE run_id = ${runId}`,
      sql`DELETE FROM sluice_runs WHERE run_id = ${runId}`
    ], { discard: true })))

/**
 * Deletes the workflow engine's messages and replies of the given executions (the engine never prunes them). Its
 * tables exist only once the engine has started, so a missing table is not an error.
 */
export const deleteExecutions = (
  executionIds: ReadonlyArray<string>
): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  executionIds.length === 0 ? Effect.succeed(0) : Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.gen(function*() {
      let deleted = 0
      for (let i = 0; i < executionIds.length; i += 500) {
        const ids = executionIds.slice(i, i + 500)
        yield* sql`DELETE FROM cluster_replies WHERE request_id IN (
          SELECT id FROM cluster_messages WHERE ${sql.in("entity_id", ids)})`
        const rows = yield* sql<{ readonly n: number | string }>`
          SELECT COUNT(*) AS n FROM cluster_messages WHERE ${sql.in("entity_id", ids)}`
        deleted += Number(rows[0]?.n ?? 0)
        yield* sql`DELETE FROM cluster_messages WHERE ${sql.in("entity_id", ids)}`
      }
      return deleted
    }))

/** A store failure as a `DurableError`. */
export const storeError = (runId: string | undefined) => (cause: SqlError): DurableError =>
  new DurableError({
    reason: "Store",
    ...(runId === undefined ? {} : { runId }),
    description: `the store failed: ${cause.message}`,
    cause
  })
