// Shared test helpers: the lab's stack configs (lab/stacks.ts) and what only tests need.
import { loadConfig } from "../../infra/config/load.js";
import { stackObject, toRaw } from "../../lab/stacks.js";

export * from "../../lab/stacks.js";

export function problemsOf(stack: string, edit: (c: Record<string, any>) => void): string[] {
  const obj = structuredClone(stackObject(stack)) as Record<string, any>;
  edit(obj);
  const r = loadConfig(toRaw(obj));
  return r.ok ? [] : r.problems.map((p) => `${p.key}: ${p.message} | ${p.fix}`);
}
