/**
 * Studio's HTTP side: the page and its assets, and a JSON + SSE API over run folders, on `@effect/platform`'s
 * `HttpRouter` with Serve's own plumbing (SSE framing, OpenAI-shaped error bodies, request draining).
 *
 * - `GET /` and `GET /assets/<name>`: the page (offline: plain HTML, CSS and JS from `assets/`);
 * - `GET /api/runs`: every run with status, progress, rows per second and errors;
 * - `GET /api/run?id=<run>`: one run: its summary, `metrics.json`, the chain's Mermaid flowchart, the last errors;
 * - `GET /api/run/live?id=<run>`: SSE `snapshot` events while the run runs (metrics, rates, last errors), ending
 *   after the run's final state;
 * - `GET /api/run/rows?id=<run>&limit=<n>`: the first row ids; `GET /api/run/row?id=<run>&row=<row id>`: one row's
 *   input, each step's output and its errors.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Http from "../internal/serve/http.js"
import * as Sse from "../internal/serve/sse.js"
import { Folders, type Run } from "./folders.js"

export interface Options {
  /** The folder holding run folders (or one run folder). */
  readonly dir: string
  /** How often a live view re-reads the run (default 1000 ms). */
  readonly pollMs?: number | undefined
}

const assetsDir = fileURLToPath(new URL("./assets/", import.meta.url))

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png"
}

/** The asset names, read once: a URL can only name one of these. */
const assets = (): ReadonlyMap<string, string> =>
  new Map(
    fs.readdirSync(assetsDir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && /^[a-z0-9][a-z0-9._-]*$/.test(entry.name))
      .map((entry) => [entry.name, path.join(assetsDir, entry.name)])
  )

const terminal = new Set(["success", "failure", "failed", "interrupted", "complete", "completed"])

const asset = (files: ReadonlyMap<string, string>, name: string) => {
  const file = files.get(name)
  if (file === undefined) return Http.respond(Http.notFound(`no asset "${name}"`))
  const type = contentTypes[path.extname(name)] ?? "application/octet-stream"
  return HttpServerResponse.uint8Array(fs.readFileSync(file), {
    contentType: type,
    headers: { "cache-control": "no-cache" }
  })
}

/** A snapshot for the live view: the run's metrics, plus rates from the previous snapshot. */
const snapshots = (folders: Folders, run: Run, pollMs: number) =>
  Stream.unwrap(Effect.sync(() => {
    let previous:
      | { readonly at: number; readonly finished: number; readonly steps: Record<string, number> }
      | undefined
    let last = ""
    let ended = false
    const take = Effect.flatMap(Clock.currentTimeMillis, (at) =>
      Effect.sync(() => {
        if (ended) return undefined
        const detail = folders.detail(run)
        const steps: Record<string, number> = {}
        for (const [name, step] of Object.entries<any>(detail.metrics?.steps ?? {})) steps[name] = step.done ?? 0
        const dt = previous === undefined ? 0 : (at - previous.at) / 1000
        const rates: Record<string, number> = {}
        for (const [name, done] of Object.entries(steps)) {
          rates[name] = dt > 0 && previous !== undefined ? Math.max(0, (done - (previous.steps[name] ?? 0)) / dt) : 0
        }
        const rowsPerSecondNow = dt > 0 && previous !== undefined
          ? Math.max(0, (detail.items.finished - previous.finished) / dt)
          : undefined
        previous = { at, finished: detail.items.finished, steps }
        if (terminal.has(String(detail.status))) ended = true
        const body = Sse.safeJson({ ...detail, rates, rowsPerSecondNow })
        if (body === last && !ended) return Sse.comment("unchanged")
        last = body
        return Sse.frame(body, "snapshot")
      }))
    return Stream.repeatEffectWithSchedule(take, Schedule.spaced(`${pollMs} millis`)).pipe(
      Stream.takeWhile((block): block is Uint8Array => block !== undefined)
    )
  }))

export const make = (options: Options) => {
  const folders = new Folders(options.dir)
  const files = assets()
  const pollMs = Math.max(50, options.pollMs ?? 1000)

  const query = Effect.map(
    HttpServerRequest.HttpServerRequest,
    (request) => new URL(request.url, "http://studio").searchParams
  )

  const withRun = <A>(f: (run: Run, params: URLSearchParams) => Effect.Effect<A, Http.HttpFailure>) =>
    Effect.gen(function*() {
      const params = yield* query
      const run = folders.run(params.get("id") ?? "")
      if (run === undefined) return yield* Effect.fail(Http.notFound(`no run "${params.get("id") ?? ""}"`))
      return yield* f(run, params)
    }).pipe(Effect.catchAll((failure) => Effect.succeed(Http.respond(failure))))

  const json = (value: unknown) => Effect.succeed(HttpServerResponse.unsafeJson(value))

  const drain = new Http.Drain()

  const live = withRun((run) =>
    Effect.flatMap(drain.enter(), (ticket) =>
      Effect.succeed(Sse.response(
        snapshots(folders, run, pollMs).pipe(Stream.interruptWhen(ticket.stop), Stream.ensuring(ticket.release))
      )))
  )

  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/", Effect.sync(() => asset(files, "index.html"))),
    HttpRouter.get(
      "/assets/:name",
      Effect.map(HttpRouter.params, (params) => asset(files, params.name ?? ""))
    ),
    HttpRouter.get(
      "/api/runs",
      Effect.suspend(() => json({ runs: folders.runs().map((run) => folders.summary(run)) }))
    ),
    HttpRouter.get("/api/run", withRun((run) => json(folders.detail(run)))),
    HttpRouter.get("/api/run/live", live),
    HttpRouter.get(
      "/api/run/rows",
      withRun((run, params) =>
        json({ rows: folders.rowIds(run, Math.min(200, Math.max(1, Number(params.get("limit") ?? "20") || 20))) })
      )
    ),
    HttpRouter.get(
      "/api/run/row",
      withRun((run, params) => {
        const row = folders.row(run, params.get("row") ?? "")
        return row === undefined
          ? Effect.fail(Http.notFound(`no row "${params.get("row") ?? ""}" in run "${run.id}"`))
          : json(row)
      })
    )
  )
  const app = Effect.catchTags(router, {
    RouteNotFound: () => Effect.succeed(Http.respond(Http.notFound("no such page")))
  })
  return { app, drain, folders }
}
