// Lint: typescript-eslint recommended, Pulumi's rule against Outputs in template literals, and the
// one-way imports between the code's rooms (eslint.boundaries.mjs).
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";
import { boundaries } from "./eslint.boundaries.mjs";

export default tseslint.config(
  { ignores: ["node_modules/**", "build/**", "out/**", ".plan/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/no-floating-promises": "error",
      "no-console": "off",
      // ES modules: @types/node still declares the CommonJS globals, so only lint catches them.
      "no-restricted-globals": [
        "error",
        ...["require", "module", "exports", "__dirname", "__filename"].map((name) => ({
          name,
          message: "the package is an ES module (ADR 0004): use import, import.meta.dirname/filename or createRequire",
        })),
      ],
    },
  },
  boundaries,
  {
    // Tests (and the lab they share with the benchmarks) poke at untyped stack outputs, recorded
    // mock inputs and stack config edits.
    files: ["test/**/*.ts", "lab/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", process: "readonly", __dirname: "readonly", module: "writable" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
