/**
 * The HTTP application of `Serve`: the routes of every mounted runnable behind the shared guards (drain, auth,
 * per-route admission, body limit), as an `HttpRouter`.
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Node from "../../Node.js"
import * as Chat from "./chat.js"
import * as Http from "./http.js"
import type { RouteImpl } from "./route.js"
import * as Runs from "./runs.js"
import * as Sse from "./sse.js"

export interface Settings {
  readonly token: Option.Option<Redacted.Redacted>
  readonly maxBodyBytes: number
  readonly concurrency: number
  readonly retryAfterSeconds: number
  readonly cors: boolean | Parameters<typeof HttpMiddleware.cors>[0]
}

type Response = HttpServerResponse.HttpServerResponse

const failureResponse = (error: unknown): Response =>
  error instanceof Http.HttpFailure
    ? Http.respond(error)
    : Http.respond(new Http.HttpFailure(500, "server_error", "internal_error", Node.errorMessage(error)))

/** The status an OpenAI client sees for a failed answer: 429 / 503 for retryable failures, 500 otherwise. */
const chatFailure = (cause: Cause.Cause<unknown>): Http.HttpFailure => {
  const error = Runs.encodeCause(cause)
  const status = error._tag === "HttpResponseError" && String(error.message).includes("429")
    ? 429
    : error.retryable === true
    ? 503
    : 500
  return new Http.HttpFailure(status, "server_error", String(error._tag), String(error.message), {
    retryable: error.retryable
  })
}

const schemaOf = (route: RouteImpl<any>): unknown =>
  Either.getOrElse(Either.try(() => JSONSchema.make(route.input) as unknown), () => ({}))

/** What every handler reads: the routes by name, their admission gates, the settings and the drain. */
interface Served<R> {
  readonly routes: ReadonlyArray<RouteImpl<R>>
  readonly byName: ReadonlyMap<string, RouteImpl<R>>
  readonly gates: ReadonlyMap<string, Http.Gate>
  readonly models: ReadonlyArray<RouteImpl<R>>
  readonly settings: Settings
  readonly drain: Http.Drain
}

export const make = <R>(routes: ReadonlyArray<RouteImpl<R>>, settings: Settings, drain: Http.Drain) => {
  const served: Served<R> = {
    routes,
    byName: new Map(routes.map((route) => [route.name, route])),
    gates: new Map(routes.map((route) => [
      route.name,
      new Http.Gate(route.concurrency ?? settings.concurrency, settings.retryAfterSeconds)
    ])),
    models: routes.filter((route) => route.chat !== undefined),
    settings,
    drain
  }
  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/health", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))),
    HttpRouter.get("/runs", listRuns(served)),
    HttpRouter.post("/runs/:name", runRoute(served)),
    HttpRouter.get("/v1/models", listModels(served)),
    HttpRouter.post("/v1/chat/completions", chatRoute(served))
  )
  const app = Effect.catchTags(router, {
    RouteNotFound: () => Effect.succeed(Http.respond(Http.notFound("no such route; see GET /runs and GET /v1/models")))
  })
  return settings.cors === false ? app : HttpMiddleware.cors(settings.cors === true ? undefined : settings.cors)(app)
}

/** Drain and auth for every request; the ticket is released when the response is done. */
const admit = <R>(served: Served<R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const ticket = yield* served.drain.enter()
    yield* Effect.onError(Http.authorize(request, served.settings.token), () => ticket.release)
    return { request, ticket }
  })

/**
 * Holds the ticket (and the route's gate) until a streamed body ends; on forced shutdown it stops the body and ends
 * with the `stopped` block, so that the client can tell the stream was cut short.
 */
const hold = <E, R>(
  ticket: Http.Ticket,
  body: Stream.Stream<Uint8Array, E, R>,
  leave: Effect.Effect<void>,
  stopped: Uint8Array
) =>
  body.pipe(
    Stream.interruptWhen(ticket.stop),
    Stream.concat(
      Stream.unwrap(Effect.map(Deferred.isDone(ticket.stop), (done) => done ? Stream.make(stopped) : Stream.empty))
    ),
    Stream.ensuring(Effect.zipRight(leave, ticket.release))
  )

const shuttingDown = "the server is shutting down: the run was stopped"

const handle = <E, R>(effect: Effect.Effect<Response, E, R>): Effect.Effect<Response, never, R> =>
  Effect.catchAll(effect, (error) => Effect.succeed(failureResponse(error)))

/** `POST /runs/:name`: the run's events as SSE. */
const runRoute = <R>(served: Served<R>) =>
  handle(Effect.gen(function*() {
    const { request, ticket } = yield* admit(served)
    return yield* Effect.gen(function*() {
      const params = yield* HttpRouter.params
      const route = served.byName.get(params.name ?? "")
      if (route === undefined) {
        return yield* Effect.fail(Http.notFound(`no runnable named "${params.name}"; see GET /runs`))
      }
      const body = yield* Http.readJson(request, served.settings.maxBodyBytes)
      const input = yield* Http.decode(route.input, body, `the input of "${route.name}"`)
      const gate = served.gates.get(route.name)!
      yield* gate.enter()
      const runId = yield* Node.makeRunId
      const context = yield* Effect.context<R>()
      const events = Stream.provideContext(
        hold(ticket, Runs.stream(route, input, runId), gate.leave(), Runs.stopped(runId, shuttingDown)),
        context
      )
      return Sse.response(events).pipe(HttpServerResponse.setHeader("x-sluice-run-id", runId))
    }).pipe(Effect.onError(() => ticket.release))
  }))

/** `POST /v1/chat/completions`: a served model's answer, streamed as chunks or whole. */
const chatRoute = <R>(served: Served<R>) =>
  handle(Effect.gen(function*() {
    const { request, ticket } = yield* admit(served)
    return yield* Effect.gen(function*() {
      const body = yield* Http.readJson(request, served.settings.maxBodyBytes)
      const chat = yield* Http.decode(Chat.Request, body, "the chat completion request")
      const route = served.byName.get(chat.model)
      if (route === undefined || route.chat === undefined) {
        const names = served.models.map((m) => m.name).join(", ") || "none"
        const description = `the model "${chat.model}" does not exist; the served models are: ${names}`
        return yield* Effect.fail(Http.notFound(description, "model_not_found"))
      }
      const gate = served.gates.get(route.name)!
      yield* gate.enter()
      const created = Math.floor((yield* Effect.clockWith((clock) => clock.currentTimeMillis)) / 1000)
      const meta = { id: `chatcmpl-${(yield* Node.makeRunId).replace(/-/g, "")}`, model: route.name, created }
      const parts = route.chat(chat)
      if (chat.stream === true) {
        const includeUsage = chat.stream_options?.include_usage === true
        const body = Chat.chunks(parts, meta, includeUsage, (cause) => Http.errorBody(chatFailure(cause)).error)
        const context = yield* Effect.context<R>()
        return Sse.response(
          Stream.provideContext(hold(ticket, body, gate.leave(), Chat.stopped(shuttingDown)), context)
        )
      }
      return yield* Chat.completion(parts, meta).pipe(
        Effect.map((completion) => HttpServerResponse.unsafeJson(completion)),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.succeed(Http.respond(chatFailure(cause)))
        ),
        Effect.raceFirst(Effect.as(
          Deferred.await(ticket.stop),
          Http.respond(
            new Http.HttpFailure(503, "server_error", "shutting_down", "the server shut down before the answer")
          )
        )),
        Effect.ensuring(Effect.zipRight(gate.leave(), ticket.release))
      )
    }).pipe(Effect.onError(() => ticket.release))
  }))

/** `GET /runs`: every route with its input's JSON Schema. */
const listRuns = <R>(served: Served<R>) =>
  handle(Effect.gen(function*() {
    const { ticket } = yield* admit(served)
    yield* ticket.release
    return HttpServerResponse.unsafeJson({
      runs: served.routes.map((route) => ({
        name: route.name,
        kind: route.kind,
        path: `/runs/${route.name}`,
        chat: route.chat !== undefined,
        input: schemaOf(route)
      }))
    })
  }))

/** `GET /v1/models`: the routes that answer as models. */
const listModels = <R>(served: Served<R>) =>
  handle(Effect.gen(function*() {
    const { ticket } = yield* admit(served)
    yield* ticket.release
    return HttpServerResponse.unsafeJson({
      object: "list",
      data: served.models.map((route) => ({ id: route.name, object: "model", created: 0, owned_by: "sluice" }))
    })
  }))
