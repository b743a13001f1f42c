/**
 * A tiny GGUF model for tests: a llama-architecture transformer with a few layers, a small vocabulary and a ChatML
 * chat template, written from scratch (about 1 MB), so that the in-process `LlamaCpp` engine can be exercised with
 * no model download. It loads in llama.cpp (through `node-llama-cpp`) in milliseconds.
 *
 * **The vocabulary** is a SentencePiece ("llama") vocabulary: `<unk>`, `<s>`, `</s>`, the 256 byte-fallback tokens
 * `<0x00>`…`<0xFF>`, one token per printable ASCII character (space is `▁`), the ChatML markers `<|im_start|>` and
 * `<|im_end|>`, and `||call:`, the prefix of `node-llama-cpp`'s default function-call syntax.
 *
 * **The weights** are random, except for one direction: every token embedding has a large constant component and
 * the output head reads it with a fixed preference per token, so the random layers only add noise to a fixed ranking
 * of the vocabulary. Sampling greedily, the model prefers `||call:` (it calls a tool when tools are offered), then
 * the characters that close JSON values (`"`, `}`, `]`): under a JSON-schema grammar it writes the shortest valid
 * value (empty strings, empty arrays, zeros), so guided decoding always terminates. Its free text is not language.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import { prng } from "../internal/prompt.js"

/**
 * The shape of the tiny model.
 *
 * @example
 * ```ts
 * import type * as TinyGguf from "sluice/testing/TinyGguf"
 *
 * const options: TinyGguf.Options = { layers: 2, embedding: 64, seed: 1 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Transformer blocks. Default 2. */
  readonly layers?: number | undefined
  /** Embedding width. Default 64. */
  readonly embedding?: number | undefined
  /** Attention heads (the embedding width must divide by it). Default 2. */
  readonly heads?: number | undefined
  /** Feed-forward width. Default 128. */
  readonly feedForward?: number | undefined
  /** Training context length written in the metadata. Default 2048. */
  readonly contextLength?: number | undefined
  /** Seed of the random weights. Default 0. */
  readonly seed?: number | undefined
}

/**
 * The ChatML chat template written into the model (`tokenizer.chat_template`).
 *
 * @example
 * ```ts
 * import * as TinyGguf from "sluice/testing/TinyGguf"
 *
 * console.log(TinyGguf.chatTemplate.includes("<|im_start|>"))
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const chatTemplate = "{% for message in messages %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/**
 * The bytes of a tiny GGUF model.
 *
 * @example
 * ```ts
 * import * as TinyGguf from "sluice/testing/TinyGguf"
 *
 * const bytes = TinyGguf.make({ seed: 7 })
 * console.log(new TextDecoder().decode(bytes.subarray(0, 4))) // "GGUF"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options | undefined): Uint8Array => {
  const layers = options?.layers ?? 2
  const embd = options?.embedding ?? 64
  const heads = options?.heads ?? 2
  const ff = options?.feedForward ?? 128
  const random = prng(options?.seed ?? 0)
  const noise = (scale: number) => (random() * 2 - 1) * scale

  const { preference, scores, tokens, types } = vocabulary()
  const vocab = tokens.length
  const tensors = weights({ layers, embd, ff, vocab, preference, noise })

  const metadata: Array<readonly [string, Value]> = [
    ["general.architecture", str("llama")],
    ["general.name", str("sluice-tiny")],
    ["general.alignment", u32(ALIGNMENT)],
    ["llama.context_length", u32(options?.contextLength ?? 2048)],
    ["llama.embedding_length", u32(embd)],
    ["llama.block_count", u32(layers)],
    ["llama.feed_forward_length", u32(ff)],
    ["llama.attention.head_count", u32(heads)],
    ["llama.attention.head_count_kv", u32(heads)],
    ["llama.rope.dimension_count", u32(embd / heads)],
    ["llama.attention.layer_norm_rms_epsilon", f32(1e-5)],
    ["llama.vocab_size", u32(vocab)],
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.tokens", { type: "strings", value: tokens }],
    ["tokenizer.ggml.scores", { type: "f32s", value: scores }],
    ["tokenizer.ggml.token_type", { type: "i32s", value: types }],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.bos_token_id", u32(1)],
    ["tokenizer.ggml.eos_token_id", u32(2)],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", str(chatTemplate)]
  ]
  return encode(metadata, tensors)
}

/**
 * Writes a tiny GGUF model to a file.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as TinyGguf from "sluice/testing/TinyGguf"
 *
 * const program = TinyGguf.write("/tmp/tiny.gguf").pipe(Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const write = (
  path: string,
  options?: Options | undefined
): Effect.Effect<void, PlatformError.PlatformError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFile(path, make(options)))

// =============================================================================
// internal: the GGUF encoding (version 3, little-endian)
// =============================================================================

const ALIGNMENT = 32
const TOKEN_NORMAL = 1
const TOKEN_UNKNOWN = 2
const TOKEN_CONTROL = 3
const TOKEN_BYTE = 6

/** Output-head preference per token (higher is likelier); normal tokens default to 1, the others to -8. */
const PREFERENCE: Readonly<Record<string, number>> = {
  "\n||call:": 14,
  "\"": 12,
  "}": 11,
  "]": 10,
  ")": 9,
  ",": 8,
  "</s>": 7,
  "<|im_end|>": 7,
  "0": 6,
  "a": 5,
  "▁": -2,
  "<0x0A>": -3
}

type Value =
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "u32"; readonly value: number }
  | { readonly type: "f32"; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "strings"; readonly value: ReadonlyArray<string> }
  | { readonly type: "f32s"; readonly value: ReadonlyArray<number> }
  | { readonly type: "i32s"; readonly value: ReadonlyArray<number> }

interface Tensor {
  readonly name: string
  /** Dimensions, innermost first (GGUF's `ne`). */
  readonly dims: ReadonlyArray<number>
  readonly data: Float32Array
}

const str = (value: string): Value => ({ type: "string", value })
const u32 = (value: number): Value => ({ type: "u32", value })
const f32 = (value: number): Value => ({ type: "f32", value })

const GGUF_UINT32 = 4
const GGUF_INT32 = 5
const GGUF_FLOAT32 = 6
const GGUF_BOOL = 7
const GGUF_STRING = 8
const GGUF_ARRAY = 9
const GGML_TYPE_F32 = 0

class Writer {
  private buffer = new Uint8Array(1 << 16)
  private view = new DataView(this.buffer.buffer)
  length = 0

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + bytes) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  u32(value: number): void {
    this.reserve(4)
    this.view.setUint32(this.length, value, true)
    this.length += 4
  }

  i32(value: number): void {
    this.reserve(4)
    this.view.setInt32(this.length, value, true)
    this.length += 4
  }

  u64(value: number): void {
    this.reserve(8)
    this.view.setBigUint64(this.length, BigInt(value), true)
    this.length += 8
  }

  f32(value: number): void {
    this.reserve(4)
    this.view.setFloat32(this.length, value, true)
    this.length += 4
  }

  u8(value: number): void {
    this.reserve(1)
    this.buffer[this.length++] = value
  }

  bytes(bytes: Uint8Array): void {
    this.reserve(bytes.length)
    this.buffer.set(bytes, this.length)
    this.length += bytes.length
  }

  string(value: string): void {
    const bytes = new TextEncoder().encode(value)
    this.u64(bytes.length)
    this.bytes(bytes)
  }

  align(): void {
    while (this.length % ALIGNMENT !== 0) this.u8(0)
  }

  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

const writeValue = (w: Writer, value: Value): void => {
  switch (value.type) {
    case "string":
      w.u32(GGUF_STRING)
      w.string(value.value)
      return
    case "u32":
      w.u32(GGUF_UINT32)
      w.u32(value.value)
      return
    case "f32":
      w.u32(GGUF_FLOAT32)
      w.f32(value.value)
      return
    case "bool":
      w.u32(GGUF_BOOL)
      w.u8(value.value ? 1 : 0)
      return
    case "strings":
      w.u32(GGUF_ARRAY)
      w.u32(GGUF_STRING)
      w.u64(value.value.length)
      for (const item of value.value) w.string(item)
      return
    case "f32s":
      w.u32(GGUF_ARRAY)
      w.u32(GGUF_FLOAT32)
      w.u64(value.value.length)
      for (const item of value.value) w.f32(item)
      return
    case "i32s":
      w.u32(GGUF_ARRAY)
      w.u32(GGUF_INT32)
      w.u64(value.value.length)
      for (const item of value.value) w.i32(item)
      return
  }
}

const encode = (metadata: ReadonlyArray<readonly [string, Value]>, tensors: ReadonlyArray<Tensor>): Uint8Array => {
  const w = new Writer()
  w.bytes(new TextEncoder().encode("GGUF"))
  w.u32(3)
  w.u64(tensors.length)
  w.u64(metadata.length)
  for (const [key, value] of metadata) {
    w.string(key)
    writeValue(w, value)
  }
  let offset = 0
  for (const tensor of tensors) {
    w.string(tensor.name)
    w.u32(tensor.dims.length)
    for (const dim of tensor.dims) w.u64(dim)
    w.u32(GGML_TYPE_F32)
    w.u64(offset)
    offset += Math.ceil((tensor.data.length * 4) / ALIGNMENT) * ALIGNMENT
  }
  w.align()
  for (const tensor of tensors) {
    w.bytes(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength))
    w.align()
  }
  return w.result()
}

/** The tokens (bytes, printable ASCII, the chat markers), their types, scores and output preference. */
const vocabulary = () => {
  const tokens: Array<string> = ["<unk>", "<s>", "</s>"]
  const types: Array<number> = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL]
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)
    types.push(TOKEN_BYTE)
  }
  tokens.push("▁")
  types.push(TOKEN_NORMAL)
  for (let c = 0x21; c < 0x7f; c++) {
    tokens.push(String.fromCharCode(c))
    types.push(TOKEN_NORMAL)
  }
  tokens.push("<|im_start|>", "<|im_end|>", "\n||call:")
  types.push(TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_NORMAL)
  const vocab = tokens.length
  const scores = tokens.map((_, i) => types[i] === TOKEN_NORMAL ? -i / vocab : 0)
  const preference = tokens.map((token, i) => PREFERENCE[token] ?? (types[i] === TOKEN_NORMAL ? 1 : -8))
  return { tokens, types, scores, preference }
}

/** The weights, drawn from `noise` in a fixed order (the model depends on it). */
const weights = (
  { embd, ff, layers, noise, preference, vocab }: {
    readonly layers: number
    readonly embd: number
    readonly ff: number
    readonly vocab: number
    readonly preference: ReadonlyArray<number>
    readonly noise: (scale: number) => number
  }
): Array<Tensor> => {
  const tensors: Array<Tensor> = []
  const matrix = (name: string, cols: number, rows: number, scale: number) =>
    tensors.push({ name, dims: [cols, rows], data: Float32Array.from({ length: cols * rows }, () => noise(scale)) })
  const ones = (name: string) => tensors.push({ name, dims: [embd], data: new Float32Array(embd).fill(1) })

  const embeddings = new Float32Array(embd * vocab)
  const output = new Float32Array(embd * vocab)
  for (let t = 0; t < vocab; t++) {
    embeddings[t * embd] = 1
    output[t * embd] = preference[t]!
    for (let d = 1; d < embd; d++) {
      embeddings[t * embd + d] = noise(0.05)
      output[t * embd + d] = noise(0.05)
    }
  }
  tensors.push({ name: "token_embd.weight", dims: [embd, vocab], data: embeddings })
  for (let i = 0; i < layers; i++) {
    ones(`blk.${i}.attn_norm.weight`)
    matrix(`blk.${i}.attn_q.weight`, embd, embd, 0.2)
    matrix(`blk.${i}.attn_k.weight`, embd, embd, 0.2)
    matrix(`blk.${i}.attn_v.weight`, embd, embd, 0.2)
    matrix(`blk.${i}.attn_output.weight`, embd, embd, 0.01)
    ones(`blk.${i}.ffn_norm.weight`)
    matrix(`blk.${i}.ffn_gate.weight`, embd, ff, 0.2)
    matrix(`blk.${i}.ffn_up.weight`, embd, ff, 0.2)
    matrix(`blk.${i}.ffn_down.weight`, ff, embd, 0.01)
  }
  ones("output_norm.weight")
  tensors.push({ name: "output.weight", dims: [embd, vocab], data: output })
  return tensors
}
