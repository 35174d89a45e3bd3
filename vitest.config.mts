import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Pulumi's mock runtime is process-global state: one test file per worker process, no threads.
    pool: "forks",
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
