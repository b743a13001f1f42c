/**
 * A Chat Completions stream as the engines and SSE benchmarks read it: the seeded 1–4 KB network chunks of a body, and
 * the floor's hand-written line splitter.
 */

export interface Completion {
  readonly choices: ReadonlyArray<{ readonly delta: { readonly content?: string } }>
}

/** The body in chunks of 1,024 to 4,096 bytes (seeded: every run sees the same chunks). */
export const networkChunks = (body: Uint8Array): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  let state = 42
  for (let at = 0; at < body.length;) {
    state = (state * 1103515245 + 12345) % 2147483648
    const size = 1024 + (state % 3073)
    chunks.push(body.subarray(at, at + size))
    at += size
  }
  return chunks
}

/** The floor: a streaming `TextDecoder` + `split("\n")` handing over the payload of every `data: ` line. */
export const dataLines = (onData: (data: string) => void): (chunk: Uint8Array) => void => {
  const decoder = new TextDecoder()
  let rest = ""
  return (chunk) => {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n")
    rest = lines.pop()!
    for (const line of lines) if (line.startsWith("data: ")) onData(line.slice(6))
  }
}

/** The text of a chunk's first delta (`undefined` for `[DONE]` and chunks without text). */
export const deltaText = (data: string): string | undefined =>
  data === "[DONE]" ? undefined : (JSON.parse(data) as Completion).choices[0]?.delta.content
