/**
 * The structured-output formats an engine has seen (`StructuredOutput.isConfirmed`): marked when an engine reads
 * the requested format, or when a direct call hands it to an engine that reads it (`languageModel.ts`).
 */
import type * as StructuredOutput from "../StructuredOutput.js"

export const confirmed = new WeakSet<StructuredOutput.Format>()
