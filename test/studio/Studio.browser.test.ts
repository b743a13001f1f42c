/**
 * Studio in headless Chromium (Debian's `chromium`, driven by `playwright-core`): the run list renders, a live
 * run's progress advances while a chain runs, a row's outputs show; a screenshot is saved as a test artefact
 * (node_modules/.cache/sluice/studio.png). A machine without the browser fails here, saying what to install.
 */
import { AiError } from "@effect/ai"
import { HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { type BrowserContext, chromium } from "playwright-core"
import { afterAll } from "vitest"
import * as Runner from "../../src/Runner.js"
import * as Studio from "../../src/studio/launch.js"
import * as ScriptedEngine from "../../src/testing/ScriptedEngine.js"
import { chain } from "../fixtures/cli/chain.js"

const CHROMIUM = process.env.SLUICE_CHROMIUM ?? "/usr/bin/chromium"
const artefact = path.resolve("node_modules/.cache/sluice/studio.png")

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-studio-browser-"))
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-chromium-profile-"))
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
  fs.rmSync(profile, { recursive: true, force: true })
})

const rows = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => ({ id: `P-${String(i + 1).padStart(4, "0")}`, title: `Lamp ${i}`, price: 10 + i })
  )

/** Rows from `held` on wait for the gate: the live run is still running when the page first looks. */
const gate = Effect.runSync(Effect.makeLatch(false))

const engine = (held: number) =>
  ScriptedEngine.layer({
    reply: (request) => {
      const lamp = Number(/Lamp (\d+)/.exec(request.text)?.[1] ?? "0")
      if (request.text.includes("Attributes of")) {
        const reply: ScriptedEngine.Reply = lamp % 17 === 5
          ? new AiError.UnknownError({ module: "Scripted", method: "streamText", description: `no lamp ${lamp}` })
          : { object: { category: "lamp", color: ["red", "blue", "green"][lamp % 3] } }
        return lamp >= held ? Effect.as(gate.await, reply) : reply
      }
      return { object: { text: request.text.includes("French") ? "lampe" : "Lampe" } }
    },
    latency: "15 millis"
  })

const runChain = (dir: string, n: number, held: number) =>
  Runner.run(chain, {
    input: rows(n),
    output: path.join(root, dir),
    key: "id",
    concurrency: 4,
    metricsIntervalMs: 100
  }).pipe(Effect.provide(engine(held)), Effect.provide(NodeContext.layer))

class BrowserService extends Context.Tag("test/Browser")<BrowserService, BrowserContext>() {}

const browser = Layer.scoped(
  BrowserService,
  Effect.acquireRelease(
    Effect.suspend(() => {
      if (!fs.existsSync(CHROMIUM)) {
        return Effect.dieMessage(
          `Studio's browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` ` +
            "(Debian's package), or point SLUICE_CHROMIUM at a Chromium binary"
        )
      }
      return Effect.promise(() =>
        chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          viewport: { width: 1360, height: 900 },
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync"
          ]
        })
      )
    }),
    (context) => Effect.promise(() => context.close())
  )
)

const studio = Studio.layer({ dir: root, pollMs: 150 }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address as HttpServer.TcpAddress
  return `http://${address.hostname}:${address.port}/`
})

/** Polls `read` in the page until `done` holds, for at most `ms`. */
const until = <A>(read: () => Promise<A>, done: (a: A) => boolean, ms = 20_000) =>
  Effect.promise(async () => {
    const end = Date.now() + ms
    let value = await read()
    while (!done(value) && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      value = await read()
    }
    return value
  })

layer(Layer.mergeAll(studio, browser), { timeout: 90_000, excludeTestServices: true })("Studio in Chromium", (it) => {
  it.effect("the run list, a live run advancing, a row's outputs; a screenshot", () =>
    Effect.gen(function*() {
      yield* runChain("finished", 12, 1000)
      const context = yield* BrowserService
      const page = yield* Effect.promise(() => context.newPage())
      const url = yield* baseUrl

      // the run list
      yield* Effect.promise(() => page.goto(url))
      yield* Effect.promise(() => page.waitForSelector("[data-testid=run-row][data-run=finished]"))
      const listed = yield* Effect.promise(() => page.locator("[data-testid=run-row]").first().innerText())
      assert.include(listed, "mini")
      assert.include(listed, "success")

      // a live run: progress advances while the chain runs
      const live = yield* Effect.fork(runChain("live", 80, 30))
      yield* until(() => Promise.resolve(fs.existsSync(path.join(root, "live", "metrics.json"))), (ok) => ok)
      yield* Effect.promise(() => page.goto(`${url}#run=live`))
      yield* Effect.promise(() => page.reload())
      const progress = () => page.locator("[data-testid=progress]").getAttribute("data-finished").then(Number)
      const first = yield* until(progress, (n) => n > 0)
      assert.isAbove(first, 0)
      assert.isAtMost(first, 30)
      yield* gate.open
      const later = yield* until(progress, (n) => n > first)
      assert.isAbove(later, first)
      const steps = yield* Effect.promise(() => page.locator("[data-testid=step-row]").count())
      assert.strictEqual(steps, 4)
      const nodes = yield* Effect.promise(() => page.locator("svg#graph g.node").count())
      assert.isAtLeast(nodes, 6)
      yield* Fiber.join(live)
      yield* until(() => page.locator("#run-status").innerText(), (status) => status === "success")

      // a row's outputs
      yield* Effect.promise(() => page.locator("[data-testid=row-id]").first().click())
      yield* Effect.promise(() => page.waitForSelector("[data-testid=row-output]"))
      const outputs = yield* Effect.promise(() =>
        page.locator("[data-testid=row-output]").evaluateAll((cells) =>
          cells.map((cell) => cell.getAttribute("data-step"))
        )
      )
      assert.includeMembers(outputs, ["extract", "merge"])

      fs.mkdirSync(path.dirname(artefact), { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: artefact, fullPage: true }))
      assert.isTrue(fs.statSync(artefact).size > 10_000)
    }), 60_000)
})
