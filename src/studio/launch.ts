/**
 * Runs Studio over a folder of runs: binds `host:port` (127.0.0.1 unless told otherwise), prints the address, and
 * serves until interrupted; interruption stops the live views and closes the server.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import * as Server from "./server.js"

export interface Options extends Server.Options {
  readonly port: number
  readonly host: string
  readonly onListening?: ((url: string) => Effect.Effect<void>) | undefined
}

/** Studio as a Layer on the `HttpServer` in context. */
export const layer = (options: Server.Options) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const studio = Server.make(options)
    const server = yield* HttpServer.HttpServer
    yield* server.serve(studio.app)
    yield* Effect.addFinalizer(() => studio.drain.close("1 second"))
  }))

export const launch = (options: Options) => {
  const announce = Layer.effectDiscard(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = server.address as HttpServer.TcpAddress
    const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
    const url = `http://${host}:${address.port}/`
    if (options.onListening) yield* options.onListening(url)
  }))
  return Layer.launch(
    Layer.mergeAll(layer(options), announce).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
    )
  )
}
