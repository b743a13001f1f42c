/**
 * Agent events mapped onto the shared `Event` vocabulary (the table in the `Agent` module documentation).
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { AgentError } from "../../AgentError.js"
import * as AgentEvent from "../../AgentEvent.js"
import type * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import * as PartialJson from "../../PartialJson.js"

/**
 * A prompt's events as a Node's emissions under `context`: the shared events of its turns and tools, then the final
 * text as the output (the Node writes its own start and end). An aborted prompt fails with `AgentError` `Aborted`.
 */
export const toEmissions = <E, R>(
  events: Stream.Stream<AgentEvent.AgentEvent, E, R>,
  context: Node.Context
): Stream.Stream<Node.Emission<string>, E | AgentError, R> =>
  Stream.suspend(() => {
    const mapper = new EventMapper(context, false)
    return Stream.mapChunksEffect(events, (chunk) => {
      const out: Array<Node.Emission<string>> = []
      for (const event of chunk) {
        if (event._tag === "AgentEnd") {
          if (event.reason === "aborted") {
            return Effect.fail(new AgentError({ session: event.sessionId, reason: "Aborted" }))
          }
          if (event.reason !== "error") out.push(Node.output(event.text, event.usage))
        } else {
          mapper.map(event, out as Array<Event.Event>)
        }
      }
      return Effect.succeed(Chunk.unsafeFromArray(out))
    })
  })

/**
 * Maps agent events onto the shared vocabulary; keeps the turn, tool paths, start times and argument parsers. With
 * `ends: false` the prompt's own start and end are left to the caller (a Node writes them).
 */
export class EventMapper {
  private turnPath: ReadonlyArray<string>
  private readonly starts = new Map<string, number>()
  private readonly toolPaths = new Map<string, ReadonlyArray<string>>()
  private readonly parsers = new Map<string, PartialJson.Parser>()

  constructor(readonly context: Node.Context, readonly ends: boolean) {
    this.turnPath = context.path
  }

  map(event: AgentEvent.AgentEvent, out: Array<Event.Event>): void {
    const runId = this.context.runId
    const timestamp = event.timestamp
    switch (event._tag) {
      case "AgentStart": {
        this.starts.set("", timestamp)
        if (this.ends) out.push({ _tag: "StepStart", runId, path: this.context.path, timestamp })
        break
      }
      case "AgentEnd": {
        if (this.ends) out.push(this.end(event))
        break
      }
      case "TurnStart": {
        this.turnPath = [...this.context.path, `turn-${event.turn}`]
        this.starts.set("turn", timestamp)
        out.push({ _tag: "StepStart", runId, path: this.turnPath, timestamp })
        break
      }
      case "TurnEnd": {
        out.push({
          _tag: "StepEnd",
          runId,
          path: this.turnPath,
          timestamp,
          durationMs: timestamp - (this.starts.get("turn") ?? timestamp),
          output: AgentEvent.textOf(event.message),
          ...(event.message.usage === undefined ? {} : { usage: event.message.usage })
        })
        this.parsers.clear()
        this.toolPaths.clear()
        break
      }
      case "MessageUpdate": {
        const mapped = this.delta(event.delta, timestamp)
        if (mapped !== undefined) out.push(mapped)
        break
      }
      case "ToolExecutionStart": {
        const path = [...this.turnPath, `${event.toolName}:${event.toolCallId}`]
        this.toolPaths.set(event.toolCallId, path)
        out.push({ _tag: "StepStart", runId, path, timestamp })
        break
      }
      case "ToolExecutionUpdate": {
        const path = this.toolPath(event)
        out.push({ _tag: "PartialFields", runId, path, timestamp, value: event.progress, complete: [] })
        break
      }
      case "ToolExecutionEnd": {
        out.push({
          _tag: "ToolResult",
          runId,
          path: this.turnPath,
          timestamp,
          id: event.toolCallId,
          name: event.toolName,
          result: event.result,
          isFailure: event.isError
        })
        const path = this.toolPath(event)
        out.push({ _tag: "StepEnd", runId, path, timestamp, durationMs: event.durationMs, output: event.result })
        break
      }
      case "Retry": {
        const { attempt, delayMs, error, message } = event
        out.push({ _tag: "Retry", runId, path: this.turnPath, timestamp, attempt, error, message, delayMs })
        break
      }
      case "MessageStart":
      case "MessageEnd":
        break
    }
  }

  private end(event: AgentEvent.Of<"AgentEnd">): Event.Event {
    const runId = this.context.runId
    const path = this.context.path
    const timestamp = event.timestamp
    if (event.reason === "error" || event.reason === "aborted") {
      return {
        _tag: "StepError",
        runId,
        path,
        timestamp,
        error: event.error?.tag ?? "Aborted",
        message: event.error?.message ?? "the prompt was aborted",
        retryable: event.error?.retryable ?? false
      }
    }
    return {
      _tag: "StepEnd",
      runId,
      path,
      timestamp,
      durationMs: timestamp - (this.starts.get("") ?? timestamp),
      output: event.text,
      ...(event.usage === undefined ? {} : { usage: event.usage })
    }
  }

  private delta(delta: AgentEvent.Delta, timestamp: number): Event.Event | undefined {
    const origin = { runId: this.context.runId, path: this.turnPath, timestamp }
    switch (delta._tag) {
      case "TextDelta":
        return { _tag: "Token", ...origin, text: delta.text }
      case "ThinkingDelta":
        return { _tag: "Reasoning", ...origin, text: delta.text }
      case "ToolCallStart":
        return undefined
      case "ToolCallDelta": {
        let parser = this.parsers.get(delta.id)
        if (parser === undefined) {
          parser = PartialJson.make()
          this.parsers.set(delta.id, parser)
        }
        parser.feed(delta.delta)
        const params = parser.snapshot() ?? null
        return { _tag: "ToolArgProgress", ...origin, id: delta.id, name: delta.name, delta: delta.delta, params }
      }
      case "ToolCallEnd":
        return { _tag: "ToolCall", ...origin, id: delta.id, name: delta.name, params: delta.params }
    }
  }

  private toolPath(event: { readonly toolCallId: string; readonly toolName: string }): ReadonlyArray<string> {
    return this.toolPaths.get(event.toolCallId) ?? [...this.turnPath, `${event.toolName}:${event.toolCallId}`]
  }
}
