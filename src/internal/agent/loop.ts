/**
 * The agent loop: one prompt as turns of a model call and the tool calls it asked for, streamed as agent events,
 * with abort (the partial message and unfinished tool calls are recorded so the conversation stays valid).
 */
import type * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Toolkit from "@effect/ai/Toolkit"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { AgentError } from "../../AgentError.js"
import * as AgentEvent from "../../AgentEvent.js"
import * as EngineError from "../../EngineError.js"
import * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import * as Retry from "../retry.js"
import { append, type Internal } from "./core.js"
import { type RawPart, stopReason, toPrompt, TurnBuilder, unknownToolParts } from "./message.js"
import { autoSave } from "./state.js"
import * as Tools from "./tools.js"

/** The progress of one prompt, read by the abort handler. */
class Run {
  turn = 0
  partial: TurnBuilder | undefined = undefined
  message: AgentEvent.AssistantMessage | undefined = undefined
  pending: PendingTools | undefined = undefined
  turnOpen = false
  lastText = ""
  usage: Event.Usage | undefined = undefined
  ended = false
  abortEvents: Array<AgentEvent.AgentEvent> = []
  constructor(readonly sessionId: string, readonly clock: Clock.Clock) {}
  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }
  end(reason: AgentEvent.EndReason, error?: AgentEvent.Failure): AgentEvent.AgentEvent {
    this.ended = true
    return {
      _tag: "AgentEnd",
      sessionId: this.sessionId,
      timestamp: this.now(),
      reason,
      text: this.lastText,
      turns: this.turn,
      ...(this.usage === undefined ? {} : { usage: this.usage }),
      ...(error === undefined ? {} : { error })
    }
  }
}

interface PendingTools {
  readonly calls: ReadonlyArray<AgentEvent.ToolCallContent>
  readonly results: Array<AgentEvent.ToolResultMessage | undefined>
  readonly started: Array<number | undefined>
}

type Emit = (events: ReadonlyArray<AgentEvent.AgentEvent>) => Effect.Effect<void>

/**
 * One prompt as a stream: takes the agent's lock for the stream's lifetime, runs the loop in a fiber that the
 * consumer stopping, `Agent.abort` (the `current` signal) or the scope's end interrupts, and streams its events
 * through a mailbox (real backpressure) while publishing them to subscribers.
 */
export const prompt = (
  agent: Internal,
  text: string
): Stream.Stream<AgentEvent.AgentEvent, AgentError | AiError.AiError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    yield* Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(restore(agent.lock.take(1)), Effect.addFinalizer(() => agent.lock.release(1)))
    )
    const signal = yield* Deferred.make<void>()
    yield* Effect.acquireRelease(
      Ref.set(agent.current, Option.some(signal)),
      () => Ref.set(agent.current, Option.none())
    )
    const mailbox = yield* Mailbox.make<AgentEvent.AgentEvent, AgentError | AiError.AiError>(agent.bufferSize)
    const run = new Run((yield* Ref.get(agent.state)).sessionId, yield* Effect.clock)
    const emit = (events: ReadonlyArray<AgentEvent.AgentEvent>): Effect.Effect<void> =>
      events.length === 0 ? Effect.void : Effect.zipRight(
        PubSub.publishAll(agent.pubsub, events),
        mailbox.offerAll(events)
      )
    const body = loop(agent, run, text, emit).pipe(Effect.onInterrupt(() => abortRun(agent, run)))
    const driver = Effect.gen(function*() {
      const fiber = yield* Effect.fork(body)
      yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
      const aborted = yield* Effect.raceFirst(
        Effect.as(Fiber.await(fiber), false),
        Effect.as(Deferred.await(signal), true)
      )
      if (aborted) {
        yield* Fiber.interrupt(fiber)
        yield* mailbox.offerAll(run.abortEvents)
        yield* mailbox.end
        return
      }
      const exit = yield* Fiber.await(fiber)
      yield* mailbox.done(Exit.asVoid(exit))
    }).pipe(Effect.scoped)
    yield* Effect.forkScoped(driver)
    return Mailbox.toStream(mailbox)
  }))

const loop = (
  agent: Internal,
  run: Run,
  text: string,
  emit: Emit
): Effect.Effect<void, AgentError | AiError.AiError> =>
  Effect.gen(function*() {
    const sessionId = run.sessionId
    const user: AgentEvent.UserMessage = { _tag: "UserMessage", text, timestamp: run.now() }
    yield* append(agent, [user])
    yield* emit([
      { _tag: "AgentStart", sessionId, timestamp: user.timestamp },
      { _tag: "MessageStart", sessionId, timestamp: user.timestamp, message: user },
      { _tag: "MessageEnd", sessionId, timestamp: user.timestamp, message: user }
    ])
    while (true) {
      run.turn++
      run.turnOpen = true
      yield* emit([{ _tag: "TurnStart", sessionId, timestamp: run.now(), turn: run.turn }])
      const tools = agent.toolSet
      const message = yield* modelTurn(agent, run, tools, emit)
      const calls = AgentEvent.toolCallsOf(message)
      const toolResults = calls.length === 0 ? [] : yield* executeTools(agent, run, tools, calls, emit)
      run.turnOpen = false
      run.message = undefined
      yield* emit([{ _tag: "TurnEnd", sessionId, timestamp: run.now(), turn: run.turn, message, toolResults }])
      yield* autoSave(agent)
      if (calls.length === 0) return yield* emit([run.end("stop")])
      if (agent.stopWhen !== undefined) {
        const { messages } = yield* Ref.get(agent.state)
        const verdict = agent.stopWhen({ turn: run.turn, message, toolResults, messages })
        if (Effect.isEffect(verdict) ? yield* verdict : verdict) return yield* emit([run.end("stopCondition")])
      }
      if (run.turn >= agent.maxTurns) {
        if (agent.onMaxTurns === "stop") return yield* emit([run.end("maxTurns")])
        return yield* new AgentError({
          session: sessionId,
          reason: "MaxTurnsExceeded",
          description: `the model still asked for tools after ${agent.maxTurns} turns`
        })
      }
    }
  }).pipe(
    Effect.tapErrorCause((cause) => {
      if (Cause.isInterruptedOnly(cause) || run.ended) return Effect.void
      const error = Cause.squash(cause)
      const end = run.end("error", {
        tag: Node.errorTag(error),
        message: Node.errorMessage(error),
        retryable: Retry.isRetryable(error)
      })
      return Effect.zipRight(emit([end]), Effect.ignore(autoSave(agent)))
    })
  )

/** One model call, streamed into an assistant message; a call of a tool the agent does not have is kept. */
const modelTurn = (
  agent: Internal,
  run: Run,
  tools: Tools.ToolSet,
  emit: Emit
): Effect.Effect<AgentEvent.AssistantMessage, AiError.AiError | AgentError> =>
  Effect.gen(function*() {
    const builder = new TurnBuilder(run.sessionId, run.turn)
    run.partial = builder
    const started: AgentEvent.AssistantMessage = {
      _tag: "AssistantMessage",
      content: [],
      stopReason: "stop",
      timestamp: run.now()
    }
    yield* emit([{ _tag: "MessageStart", sessionId: run.sessionId, timestamp: started.timestamp, message: started }])
    const parts = modelStream(agent, run, yield* Ref.get(agent.model), tools, emit)
    const streamed = yield* Stream.runForEachChunk(parts, (chunk) => {
      const out: Array<AgentEvent.AgentEvent> = []
      builder.feed(chunk as Iterable<RawPart>, run.now(), out)
      return emit(out)
    }).pipe(
      Effect.catchAll((error) => {
        const raw = unknownToolParts(error, tools.entries)
        if (raw === undefined) return Effect.fail(error)
        const out: Array<AgentEvent.AgentEvent> = []
        builder.feed(raw, run.now(), out)
        builder.finishReason ??= "tool-calls"
        return emit(out)
      }),
      Effect.either
    )
    run.partial = undefined
    const failed = streamed._tag === "Left" ? streamed.left : undefined
    const message = builder.message(
      failed === undefined ? stopReason(builder.finishReason) : "error",
      run.now(),
      failed === undefined ? undefined : Node.errorMessage(failed)
    )
    run.message = message
    run.lastText = AgentEvent.textOf(message)
    run.usage = Event.addUsage(run.usage, message.usage)
    yield* append(agent, [message])
    yield* emit([{ _tag: "MessageEnd", sessionId: run.sessionId, timestamp: run.now(), message }])
    if (failed !== undefined) return yield* Effect.fail(failed)
    return message
  })

/**
 * The model's reply parts for the current conversation, retried on transient errors until anything streamed, each
 * retry announced by a `Retry` event.
 */
const modelStream = (
  agent: Internal,
  run: Run,
  model: LanguageModel.Service,
  tools: Tools.ToolSet,
  emit: Emit
): Stream.Stream<unknown, AiError.AiError> =>
  Stream.unwrap(Effect.map(Ref.get(agent.state), (current) => {
    let anyPart = false
    const call = () =>
      Stream.mapChunks(
        model.streamText({
          prompt: toPrompt(current),
          toolkit: tools.wire as Toolkit.Toolkit<{}>,
          disableToolCallResolution: true
        }) as Stream.Stream<unknown, AiError.AiError>,
        (chunk) => {
          if (chunk.length > 0) anyPart = true
          return chunk
        }
      )
    if (agent.retry === 0) return call()
    return Retry.stream(call, {
      schedule: EngineError.retrySchedule({ times: agent.retry }),
      while: (error) => !anyPart && Retry.isRetryable(error)
    }, ({ attempt, delayMs, error }) =>
      Stream.drain(Stream.fromEffect(emit([{
        _tag: "Retry",
        sessionId: run.sessionId,
        timestamp: run.now(),
        turn: run.turn,
        attempt,
        error: Node.errorTag(error),
        message: Node.errorMessage(error),
        delayMs
      }]))))
  }))

/** Runs the tool calls of a turn, at most `toolConcurrency` at once, and records their results in call order. */
const executeTools = (
  agent: Internal,
  run: Run,
  tools: Tools.ToolSet,
  calls: ReadonlyArray<AgentEvent.ToolCallContent>,
  emit: Emit
): Effect.Effect<ReadonlyArray<AgentEvent.ToolResultMessage>> =>
  Effect.gen(function*() {
    const sessionId = run.sessionId
    const pending: PendingTools = { calls, results: calls.map(() => undefined), started: calls.map(() => undefined) }
    run.pending = pending
    yield* Effect.forEach(calls, (call, i) => executeTool(run, tools, pending, call, i, emit), {
      concurrency: agent.toolConcurrency,
      discard: true
    })
    const results = pending.results as ReadonlyArray<AgentEvent.ToolResultMessage>
    run.pending = undefined
    yield* append(agent, results)
    yield* emit(results.flatMap((message): Array<AgentEvent.AgentEvent> => [
      { _tag: "MessageStart", sessionId, timestamp: message.timestamp, message },
      { _tag: "MessageEnd", sessionId, timestamp: message.timestamp, message }
    ]))
    return results
  })

const executeTool = (
  run: Run,
  tools: Tools.ToolSet,
  pending: PendingTools,
  call: AgentEvent.ToolCallContent,
  i: number,
  emit: Emit
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { sessionId, turn } = run
    const ids = { sessionId, turn, toolCallId: call.id, toolName: call.name }
    const start = run.now()
    pending.started[i] = start
    yield* emit([{ _tag: "ToolExecutionStart", ...ids, timestamp: start, params: call.params }])
    const entry = tools.entries.get(call.name)
    const outcome = entry === undefined ? Tools.unknownTool(tools, call.name) : yield* entry.execute(call.params, {
      toolCallId: call.id,
      toolName: call.name,
      update: (progress) => emit([{ _tag: "ToolExecutionUpdate", ...ids, timestamp: run.now(), progress }])
    })
    const end = run.now()
    const { isError, result } = outcome
    pending.results[i] = {
      _tag: "ToolResultMessage",
      toolCallId: call.id,
      toolName: call.name,
      result,
      isError,
      timestamp: end
    }
    yield* emit([{ _tag: "ToolExecutionEnd", ...ids, timestamp: end, result, isError, durationMs: end - start }])
  })

/**
 * Runs when a prompt is interrupted: records what the turn had produced (the partial assistant message as aborted,
 * error results for the tool calls that did not finish), publishes the closing events to subscribers and keeps
 * them for the prompt's own stream (see `prompt`).
 */
const abortRun = (agent: Internal, run: Run): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (run.ended) return Effect.void
    const now = run.now()
    const events: Array<AgentEvent.AgentEvent> = []
    const messages: Array<AgentEvent.Message> = []
    let toolResults: ReadonlyArray<AgentEvent.ToolResultMessage> = []
    if (run.partial !== undefined) {
      const message = run.partial.message("aborted", now, undefined)
      run.partial = undefined
      run.message = message
      run.lastText = AgentEvent.textOf(message)
      run.usage = Event.addUsage(run.usage, message.usage)
      messages.push(message)
      events.push({ _tag: "MessageEnd", sessionId: run.sessionId, timestamp: now, message })
    } else if (run.pending !== undefined) {
      toolResults = abortTools(run, run.pending, now, events)
      run.pending = undefined
      messages.push(...toolResults)
    }
    if (run.turnOpen && run.message !== undefined) {
      const { message, sessionId, turn } = run
      events.push({ _tag: "TurnEnd", sessionId, timestamp: now, turn, message, toolResults })
    }
    events.push(run.end("aborted"))
    run.abortEvents = events
    return append(agent, messages).pipe(
      Effect.zipRight(PubSub.publishAll(agent.pubsub, events)),
      Effect.zipRight(Effect.ignore(autoSave(agent)))
    )
  })

/** The results of an interrupted turn's tool calls: those that finished, an error result for the others. */
const abortTools = (
  run: Run,
  pending: PendingTools,
  now: number,
  events: Array<AgentEvent.AgentEvent>
): ReadonlyArray<AgentEvent.ToolResultMessage> => {
  const { sessionId, turn } = run
  const results = pending.calls.map((call, i): AgentEvent.ToolResultMessage => {
    const done = pending.results[i]
    if (done !== undefined) return done
    const result = "Error: the tool call was aborted"
    const started = pending.started[i]
    if (started !== undefined) {
      events.push({
        _tag: "ToolExecutionEnd",
        sessionId,
        timestamp: now,
        turn,
        toolCallId: call.id,
        toolName: call.name,
        result,
        isError: true,
        durationMs: now - started
      })
    }
    return {
      _tag: "ToolResultMessage",
      toolCallId: call.id,
      toolName: call.name,
      result,
      isError: true,
      timestamp: now
    }
  })
  for (const message of results) {
    events.push({ _tag: "MessageStart", sessionId, timestamp: now, message })
    events.push({ _tag: "MessageEnd", sessionId, timestamp: now, message })
  }
  return results
}
