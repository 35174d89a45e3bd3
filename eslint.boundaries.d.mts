// Types of eslint.boundaries.mjs for the test that runs its rules (test/repo/lint-boundaries.test.ts).
import type { Linter } from "eslint";

export declare const CLI_ROOMS: string[];
export declare const boundaries: Linter.Config;
