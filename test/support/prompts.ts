/**
 * Prompts that engine encoding tests share.
 */

/**
 * The messages of one tool round trip: a user turn of text and an image, the assistant's reasoning and tool call,
 * then the tool's result (as `Prompt.make` accepts them).
 */
export const toolRoundTrip = (turn: {
  readonly text: ReadonlyArray<string>
  readonly image: string | Uint8Array
  readonly reasoning: string
  readonly call: { readonly id: string; readonly name: string; readonly params: unknown }
  readonly result: unknown
}) => [
  {
    role: "user",
    content: [
      ...turn.text.map((text) => ({ type: "text", text })),
      { type: "file", mediaType: "image/png", data: turn.image }
    ]
  },
  { role: "assistant", content: [{ type: "reasoning", text: turn.reasoning }, { type: "tool-call", ...turn.call }] },
  {
    role: "tool",
    content: [{
      type: "tool-result",
      id: turn.call.id,
      name: turn.call.name,
      result: turn.result,
      isFailure: false,
      providerExecuted: false
    }]
  }
]
