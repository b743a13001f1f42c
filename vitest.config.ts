import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = fileURLToPath(new URL("src/", import.meta.url))

export default defineConfig({
  // `sluice/...` (examples and chain files loaded by tests) resolves to the sources, as tsconfig.json's paths do
  resolve: {
    alias: [
      { find: /^sluice$/, replacement: `${src}index.ts` },
      { find: /^sluice\/testing$/, replacement: `${src}testing/index.ts` },
      { find: /^sluice\/(.*)$/, replacement: `${src}$1.ts` }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    sequence: { concurrent: true },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default", "json"],
    outputFile: { json: "node_modules/.cache/sluice/test-results.json" }
  }
})
