/**
 * An engine that talks to a remote sluice server (`Serve`, `sluice serve`): the app runs against a served agent or
 * LLM node as if it were a model, while the model keys and the agent's own tools stay on the server.
 *
 * **Which route.** The proxy speaks the server's OpenAI-compatible `POST /v1/chat/completions` (streaming), not the
 * `POST /runs/<name>` SSE route: a `LanguageModel` exchanges messages, tool definitions, tool calls and structured
 * output, and the Chat Completions dialect carries all four, while a run's `Event`s describe one runnable's progress
 * and have no place for a conversation or for tools the caller runs. So the proxy is sluice's `OpenAiCompat` engine
 * pointed at `<url>/v1` with the route's name as the model, and it inherits that engine's streaming decoder, error
 * mapping (HTTP status to `EngineError`) and retry rules:
 *
 * - the conversation (system, user, assistant and tool messages) goes to the served agent, which answers with its
 *   own tools on the server;
 * - tools of the caller (e.g. a local agent's toolkit) are sent as `tools`; the server returns their calls for the
 *   caller to run;
 * - a structured request (`Llm.object`, `generateObject`) goes as `response_format: json_schema`.
 *
 * The bearer token is a `Redacted` (by default `SLUICE_PROXY_TOKEN` from `Config` in {@link layerConfig}).
 *
 * @since 0.1.0
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config_ from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as OpenAiCompat from "./OpenAiCompat.js"

/**
 * Where the server is and what to use there:
 *
 * - `url`: the server's root, e.g. `http://127.0.0.1:8787` (the proxy appends `/v1/chat/completions`);
 * - `route`: the name of the served agent or LLM node (the `model` of the requests);
 * - `token`: the server's bearer token; `timeout` / `idleTimeout`: as in `OpenAiCompat`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as Proxy from "sluice/engines/Proxy"
 *
 * const config: Proxy.Config = { url: "http://127.0.0.1:8787", route: "assistant", token: Redacted.make("s3cret") }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly url: string
  readonly route: string
  readonly token?: Redacted.Redacted | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly idleTimeout?: Duration.DurationInput | undefined
}

const compat = (config: Config): OpenAiCompat.Config => ({
  engine: "Proxy",
  baseUrl: `${config.url.replace(/\/+$/, "")}/v1`,
  model: config.route,
  apiKey: config.token,
  structuredOutput: "json_schema",
  timeout: config.timeout,
  idleTimeout: config.idleTimeout
})

/**
 * Builds the engine.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as Proxy from "sluice/engines/Proxy"
 *
 * const model = Proxy.make({ url: "http://127.0.0.1:8787", route: "assistant" }).pipe(
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Config): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  OpenAiCompat.make(compat(config))

/**
 * The engine as a `LanguageModel` Layer.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import * as Llm from "sluice/Llm"
 * import * as Node from "sluice/Node"
 * import * as Proxy from "sluice/engines/Proxy"
 *
 * const remote = Proxy.layer({ url: "http://127.0.0.1:8787", route: "assistant" }).pipe(
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * const answer = Node.run(Llm.text({ prompt: (q: string) => q }), "Hello").pipe(Effect.provide(remote))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  OpenAiCompat.layer(compat(config))

/**
 * The engine with its settings from `Config`: `SLUICE_PROXY_URL`, `SLUICE_PROXY_ROUTE` and the optional
 * `SLUICE_PROXY_TOKEN` unless given.
 *
 * @example
 * ```ts
 * import * as Proxy from "sluice/engines/Proxy"
 *
 * const remote = Proxy.layerConfig({ route: "assistant" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: { readonly url?: string | undefined; readonly route?: string | undefined } | undefined
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  OpenAiCompat.layerConfig({
    engine: "Proxy",
    baseUrl: Config_.map(
      options?.url === undefined ? Config_.string("SLUICE_PROXY_URL") : Config_.succeed(options.url),
      (url) => `${url.replace(/\/+$/, "")}/v1`
    ),
    model: options?.route === undefined ? Config_.string("SLUICE_PROXY_ROUTE") : options.route,
    apiKey: Config_.option(Config_.redacted("SLUICE_PROXY_TOKEN")).pipe(
      Config_.map((token) => token._tag === "Some" ? token.value : undefined)
    ),
    structuredOutput: "json_schema"
  })
