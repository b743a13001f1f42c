/**
 * A real HTTP server on `127.0.0.1` (random port) for testing HTTP engines: it answers each request with a scripted
 * reply (a recorded transcript file, a list of chunks, or an HTTP error), can split the body at chosen byte sizes,
 * pause between chunks, drop the connection mid-stream or hang until the client goes away, and records every request
 * it received (method, path, headers, JSON body) and whether its client disconnected before the reply ended.
 *
 * The server runs on real time and real sockets, whatever `Clock` the test uses. It is scoped: {@link make}
 * listens, and closing the scope closes every connection and the server.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"

/**
 * A reply body: text, bytes, a list of chunks written one by one, or a file read when the reply is served.
 *
 * @example
 * ```ts
 * import type * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const body: ScriptedServer.Body = ["data: {\"a\":1}\n\n", "data: [DONE]\n\n"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Body = string | Uint8Array | ReadonlyArray<string | Uint8Array> | { readonly file: string }

/**
 * One scripted reply.
 *
 * - `status` (default 200) and `headers`;
 * - `body`: see {@link Body}; written as its own chunks unless `chunkSizes` re-splits its bytes (one size, or a list
 *   of sizes used in turn);
 * - `headersDelay`: a pause before the status line and headers (a server slow to answer);
 * - `delay`: a pause before each chunk after the first (`firstDelay` before the first one, after the headers);
 * - `dropAfter`: destroy the connection after this many body bytes (a connection dropped mid-stream);
 * - `hang`: keep the reply open after the body until the client disconnects (for interruption tests).
 *
 * @example
 * ```ts
 * import type * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const reply: ScriptedServer.Reply = {
 *   headers: { "content-type": "text/event-stream" },
 *   body: "data: {\"x\":1}\n\n",
 *   chunkSizes: [1, 2, 3],
 *   delay: "5 millis"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply {
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: Body | undefined
  readonly chunkSizes?: number | ReadonlyArray<number> | undefined
  readonly headersDelay?: Duration.DurationInput | undefined
  readonly delay?: Duration.DurationInput | undefined
  readonly firstDelay?: Duration.DurationInput | undefined
  readonly dropAfter?: number | undefined
  readonly hang?: boolean | undefined
}

/**
 * A request the server received. `body` is the parsed JSON body (`undefined` when the body is not JSON), `text` the
 * raw body; `outcome` tells how its reply ended: `"completed"`, `"disconnected"` (the client went away first),
 * `"dropped"` (the server dropped it, see `dropAfter`) or `"open"` (still being served).
 *
 * @example
 * ```ts
 * import type * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const isChat = (request: ScriptedServer.Request) => request.path === "/v1/chat/completions"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly index: number
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly body: unknown
  readonly outcome: "open" | "completed" | "disconnected" | "dropped"
}

/**
 * Options of {@link make}: `replies` answers the n-th request with the n-th reply (a request beyond the list gets a
 * 500 naming it), `reply` answers every request (with a function, from the request itself).
 *
 * @example
 * ```ts
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const options: ScriptedServer.Options = {
 *   replies: [ScriptedServer.error(429, { retryAfter: 1 }), ScriptedServer.sse([{ ok: true }])]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Options =
  | { readonly replies: ReadonlyArray<Reply> }
  | { readonly reply: Reply | ((request: Request) => Reply) }

/**
 * A running scripted server.
 *
 * - `url`: its base URL, `http://127.0.0.1:<port>` (no trailing slash);
 * - `requests`: the requests received so far;
 * - `awaitDisconnect`: waits until a client disconnects before its reply ended, and gives that request.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make({ reply: ScriptedServer.sse([{ a: 1 }]) })
 *   return server.url
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedServer {
  readonly url: string
  readonly requests: Effect.Effect<ReadonlyArray<Request>>
  readonly awaitDisconnect: Effect.Effect<Request>
}

/**
 * Starts a scripted server on `127.0.0.1` and a random port, for the lifetime of the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const server = yield* ScriptedServer.make({
 *     replies: [ScriptedServer.transcript("test/fixtures/transcripts/openai-chat.gpt-4o.json-content.openai-node.sse", {
 *       chunkSizes: 7
 *     })]
 *   })
 *   // point an engine at `${server.url}/v1`, then inspect:
 *   const requests = yield* server.requests
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ScriptedServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const records: Array<MutableRequest> = []
    const fibers = new Set<Fiber.RuntimeFiber<void>>()
    const sockets = new Set<net.Socket>()
    const disconnect = yield* Deferred.make<Request>()

    const choose = (request: Request): Reply => {
      if ("replies" in options) {
        return options.replies[request.index] ?? {
          status: 500,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            error: { message: `ScriptedServer: no reply scripted for request ${request.index + 1}` }
          })
        }
      }
      return typeof options.reply === "function" ? options.reply(request) : options.reply
    }

    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        const record: MutableRequest = {
          index: records.length,
          method: req.method ?? "GET",
          path: req.url ?? "/",
          headers: flattenHeaders(req.headers),
          text,
          body: parseJson(text),
          outcome: "open"
        }
        records.push(record)
        res.on("close", () => {
          if (record.outcome === "open") {
            if (res.writableFinished) record.outcome = "completed"
            else {
              record.outcome = "disconnected"
              Deferred.unsafeDone(disconnect, Effect.succeed({ ...record }))
            }
          }
        })
        const fiber = Effect.runFork(serve(choose({ ...record }), res, record))
        fibers.add(fiber)
        fiber.addObserver(() => fibers.delete(fiber))
      })
    })
    // longer than clients' keep-alive (undici: 4 s), so that a client never reuses a socket the server is closing
    server.keepAliveTimeout = 60_000
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.gen(function*() {
          yield* Fiber.interruptAll(fibers)
          for (const socket of sockets) socket.destroy()
          yield* Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
        })
    )

    return {
      url: `http://127.0.0.1:${port}`,
      requests: Effect.sync(() => records.map((record) => ({ ...record }))),
      awaitDisconnect: Deferred.await(disconnect)
    }
  })

/**
 * A reply streaming Server-Sent Events: each value is sent as `data: <JSON>\n\n` (a string is sent as is after
 * `data: `), followed by `data: [DONE]\n\n` unless `done: false`.
 *
 * @example
 * ```ts
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const reply = ScriptedServer.sse(
 *   [{ choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: "stop" }] }],
 *   { chunkSizes: 3 }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sse = (
  events: ReadonlyArray<unknown>,
  options?: Omit<Reply, "body"> & { readonly done?: boolean | undefined } | undefined
): Reply => {
  const { done, ...reply } = options ?? {}
  const chunks = events.map((event) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`)
  if (done !== false) chunks.push("data: [DONE]\n\n")
  return {
    ...reply,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...reply.headers },
    body: chunks
  }
}

/**
 * A reply streaming newline-delimited JSON (Ollama's `/api/chat`): one JSON value per line.
 *
 * @example
 * ```ts
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const reply = ScriptedServer.ndjson([
 *   { message: { role: "assistant", content: "Hi" }, done: false },
 *   { message: { role: "assistant", content: "" }, done: true, done_reason: "stop" }
 * ])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ndjson = (lines: ReadonlyArray<unknown>, options?: Omit<Reply, "body"> | undefined): Reply => ({
  ...options,
  headers: { "content-type": "application/x-ndjson", ...options?.headers },
  body: lines.map((line) => `${typeof line === "string" ? line : JSON.stringify(line)}\n`)
})

/**
 * A reply that replays a recorded transcript file byte for byte (`.sse` as `text/event-stream`, `.ndjson` as
 * `application/x-ndjson`); the file is read when the reply is served.
 *
 * @example
 * ```ts
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const reply = ScriptedServer.transcript("test/fixtures/transcripts/ollama.api-chat.docs-example.ndjson", {
 *   chunkSizes: [1, 5, 13]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const transcript = (path: string, options?: Omit<Reply, "body"> | undefined): Reply => ({
  ...options,
  headers: {
    "content-type": path.endsWith(".ndjson") ? "application/x-ndjson" : "text/event-stream",
    ...options?.headers
  },
  body: { file: path }
})

/**
 * An HTTP error reply: a JSON body `{ error: { message } }` (OpenAI's shape) unless `body` is given, and a
 * `retry-after` header (in seconds) when `retryAfter` is set.
 *
 * @example
 * ```ts
 * import * as ScriptedServer from "sluice/testing/ScriptedServer"
 *
 * const rateLimited = ScriptedServer.error(429, { retryAfter: 2, message: "Rate limit reached" })
 * const unauthorized = ScriptedServer.error(401)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (
  status: number,
  options?: {
    readonly message?: string | undefined
    readonly body?: Body | undefined
    readonly retryAfter?: number | string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  } | undefined
): Reply => ({
  status,
  headers: {
    "content-type": "application/json",
    ...(options?.retryAfter === undefined ? {} : { "retry-after": String(options.retryAfter) }),
    ...options?.headers
  },
  body: options?.body ??
    JSON.stringify({ error: { message: options?.message ?? http.STATUS_CODES[status] ?? `HTTP ${status}` } })
})

// =============================================================================
// internal
// =============================================================================

type MutableRequest = { -readonly [K in keyof Request]: Request[K] }

const parseJson = (text: string): unknown => {
  if (text.length === 0) return undefined
  const result = Effect.runSync(Effect.either(Effect.try(() => JSON.parse(text) as unknown)))
  return result._tag === "Right" ? result.right : undefined
}

const flattenHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const key in headers) {
    const value = headers[key]
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const toBytes = (piece: string | Uint8Array): Uint8Array =>
  typeof piece === "string" ? Buffer.from(piece, "utf8") : piece

const bodyChunks = (body: Body | undefined): Effect.Effect<Array<Uint8Array>, Error> => {
  if (body === undefined) return Effect.succeed([])
  if (typeof body === "string" || body instanceof Uint8Array) return Effect.succeed([toBytes(body)])
  if ("file" in body) {
    const path = body.file
    return Effect.try({
      try: () => [fs.readFileSync(path) as Uint8Array],
      catch: (cause) => new Error(`ScriptedServer: cannot read ${path}: ${String(cause)}`)
    })
  }
  return Effect.succeed((body as ReadonlyArray<string | Uint8Array>).map(toBytes))
}

const resplit = (chunks: Array<Uint8Array>, sizes: number | ReadonlyArray<number> | undefined): Array<Uint8Array> => {
  if (sizes === undefined) return chunks
  const list = typeof sizes === "number" ? [sizes] : sizes
  if (list.length === 0 || list.some((size) => !(size > 0))) return chunks
  const all = Buffer.concat(chunks)
  const out: Array<Uint8Array> = []
  let offset = 0
  for (let i = 0; offset < all.length; i++) {
    const size = list[i % list.length]!
    out.push(all.subarray(offset, offset + size))
    offset += size
  }
  return out
}

const write = (res: http.ServerResponse, chunk: Uint8Array): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (res.destroyed) return resume(Effect.void)
    const drained = res.write(chunk)
    if (drained) return resume(Effect.void)
    const done = () => {
      res.off("drain", done)
      res.off("close", done)
      resume(Effect.void)
    }
    res.on("drain", done)
    res.on("close", done)
  })

const serve = (reply: Reply, res: http.ServerResponse, record: MutableRequest): Effect.Effect<void> =>
  Effect.gen(function*() {
    const loaded = yield* Effect.either(bodyChunks(reply.body))
    if (loaded._tag === "Left") {
      res.writeHead(500, { "content-type": "text/plain" })
      res.end(loaded.left.message)
      return
    }
    const chunks = resplit(loaded.right, reply.chunkSizes)
    if (reply.headersDelay !== undefined) yield* Effect.sleep(reply.headersDelay)
    if (res.destroyed) return
    res.writeHead(reply.status ?? 200, { ...reply.headers })
    res.flushHeaders()
    const delay = reply.delay === undefined ? undefined : Duration.decode(reply.delay)
    if (reply.firstDelay !== undefined) yield* Effect.sleep(reply.firstDelay)
    let written = 0
    for (let i = 0; i < chunks.length; i++) {
      if (res.destroyed) return
      if (i > 0 && delay !== undefined) yield* Effect.sleep(delay)
      let chunk = chunks[i]!
      if (reply.dropAfter !== undefined && written + chunk.length >= reply.dropAfter) {
        chunk = chunk.subarray(0, Math.max(0, reply.dropAfter - written))
        if (chunk.length > 0) yield* write(res, chunk)
        yield* Effect.sleep(Duration.millis(5))
        record.outcome = "dropped"
        res.socket?.destroy()
        return
      }
      yield* write(res, chunk)
      written += chunk.length
    }
    if (reply.dropAfter !== undefined) {
      record.outcome = "dropped"
      res.socket?.destroy()
      return
    }
    if (reply.hang === true) {
      yield* Effect.async<void>((resume) => {
        if (res.destroyed) return resume(Effect.void)
        res.on("close", () => resume(Effect.void))
      })
      return
    }
    res.end()
  }).pipe(Effect.catchAllDefect(() => Effect.sync(() => res.destroy())))
