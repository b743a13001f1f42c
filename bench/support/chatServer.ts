/**
 * A minimal Chat Completions server for `http.bench.ts`, run as its own process so that its CPU is not the client's:
 * `node --import tsx bench/support/chatServer.ts`. It answers every request with a small streamed JSON reply (the
 * object a structured call asks for, in one content delta, then the finish and usage chunks) and prints its port.
 */
import * as http from "node:http"

const categoryJson = JSON.stringify({ category: "office", confidence: 0.82 })
const base = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1_700_000_000, model: "m" }
const body = [
  { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
  { ...base, choices: [{ index: 0, delta: { content: categoryJson }, finish_reason: null }] },
  { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
  { ...base, choices: [], usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 } }
].map((event) => `data: ${JSON.stringify(event)}\n\n`).join("") + "data: [DONE]\n\n"

const server = http.createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, { "content-type": "text/event-stream", "content-length": Buffer.byteLength(body) })
    response.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  process.stdout.write(`${typeof address === "object" && address !== null ? address.port : ""}\n`)
})
