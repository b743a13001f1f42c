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

const schemaOf = (route: RouteImpl<any>): unknown => {
  try {
    return JSONSchema.make(route.input)
  } catch {
    return {}
  }
}

export const make = <R>(
  routes: ReadonlyArray<RouteImpl<R>>,
  settings: Settings,
  drain: Http.Drain
) => {
  const byName = new Map(routes.map((route) => [route.name, route]))
  const gates = new Map(
    routes.map((
      route
    ) => [route.name, new Http.Gate(route.concurrency ?? settings.concurrency, settings.retryAfterSeconds)])
  )
  const models = routes.filter((route) => route.chat !== undefined)

  /** Drain and auth for every request; the ticket is released by `answer` when the response is done. */
  const admit = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const ticket = yield* drain.enter()
    yield* Effect.onError(Http.authorize(request, settings.token), () => ticket.release)
    return { request, ticket }
  })

  /** Holds the ticket (and the route's gate) until a streamed body ends; stops it on forced shutdown. */
  const hold = <E>(ticket: Http.Ticket, body: Stream.Stream<Uint8Array, E, R>, leave: Effect.Effect<void>) =>
    body.pipe(Stream.interruptWhen(ticket.stop), Stream.ensuring(Effect.zipRight(leave, ticket.release)))

  const handle = <E, R2>(effect: Effect.Effect<Response, E, R2>): Effect.Effect<Response, never, R2> =>
    Effect.catchAll(effect, (error) => Effect.succeed(failureResponse(error)))

  const runRoute = handle(Effect.gen(function*() {
    const { request, ticket } = yield* admit
    return yield* Effect.gen(function*() {
      const params = yield* HttpRouter.params
      const route = byName.get(params.name ?? "")
      if (route === undefined) {
        return yield* Effect.fail(Http.notFound(`no runnable named "${params.name}"; see GET /runs`))
      }
      const body = yield* Http.readJson(request, settings.maxBodyBytes)
      const input = yield* Http.decode(route.input, body, `the input of "${route.name}"`)
      const gate = gates.get(route.name)!
      yield* gate.enter()
      const runId = yield* Node.makeRunId
      const context = yield* Effect.context<R>()
      const events = Stream.provideContext(hold(ticket, Runs.stream(route, input, runId), gate.leave()), context)
      return Sse.response(events).pipe(
        HttpServerResponse.setHeader("x-sluice-run-id", runId)
      )
    }).pipe(Effect.onError(() => ticket.release))
  }))

  const chatRoute = handle(Effect.gen(function*() {
    const { request, ticket } = yield* admit
    return yield* Effect.gen(function*() {
      const body = yield* Http.readJson(request, settings.maxBodyBytes)
      const chat = yield* Http.decode(Chat.Request, body, "the chat completion request")
      const route = byName.get(chat.model)
      if (route === undefined || route.chat === undefined) {
        return yield* Effect.fail(
          Http.notFound(
            `the model "${chat.model}" does not exist; the served models are: ${
              models.map((m) => m.name).join(", ") || "none"
            }`,
            "model_not_found"
          )
        )
      }
      const gate = gates.get(route.name)!
      yield* gate.enter()
      const created = Math.floor((yield* Effect.clockWith((clock) => clock.currentTimeMillis)) / 1000)
      const meta = { id: `chatcmpl-${(yield* Node.makeRunId).replace(/-/g, "")}`, model: route.name, created }
      const parts = route.chat(chat)
      if (chat.stream === true) {
        const includeUsage = chat.stream_options?.include_usage === true
        const body = Chat.chunks(parts, meta, includeUsage, (cause) => Http.errorBody(chatFailure(cause)).error)
        const context = yield* Effect.context<R>()
        return Sse.response(Stream.provideContext(hold(ticket, body, gate.leave()), context))
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

  const listRuns = handle(Effect.gen(function*() {
    const { ticket } = yield* admit
    yield* ticket.release
    return HttpServerResponse.unsafeJson({
      runs: routes.map((route) => ({
        name: route.name,
        kind: route.kind,
        path: `/runs/${route.name}`,
        chat: route.chat !== undefined,
        input: schemaOf(route)
      }))
    })
  }))

  const listModels = handle(Effect.gen(function*() {
    const { ticket } = yield* admit
    yield* ticket.release
    return HttpServerResponse.unsafeJson({
      object: "list",
      data: models.map((route) => ({ id: route.name, object: "model", created: 0, owned_by: "sluice" }))
    })
  }))

  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/health", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))),
    HttpRouter.get("/runs", listRuns),
    HttpRouter.post("/runs/:name", runRoute),
    HttpRouter.get("/v1/models", listModels),
    HttpRouter.post("/v1/chat/completions", chatRoute)
  )
  const app = Effect.catchTags(router, {
    RouteNotFound: () => Effect.succeed(Http.respond(Http.notFound("no such route; see GET /runs and GET /v1/models")))
  })
  return settings.cors === false ? app : HttpMiddleware.cors(settings.cors === true ? undefined : settings.cors)(app)
}
