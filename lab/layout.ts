// The node layout for scripts run on this machine: the product's layout file (what the node reads
// from /etc/xiopro/layout.env) with the directories of a test or benchmark in place of the node's.
// The scripts find it through XIOPRO_LAYOUT.
import * as fs from "node:fs";
import * as path from "node:path";
import { layoutEnv } from "../cloud-init/configs.js";
import { LAYOUT_ENV } from "../infra/catalog/layout.js";

export type LayoutOverrides = Partial<Record<keyof typeof LAYOUT_ENV, string>>;

/** Writes DIR/layout.env and returns the environment entry that points the scripts at it. */
export function layoutIn(dir: string, overrides: LayoutOverrides): { XIOPRO_LAYOUT: string } {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "layout.env");
  fs.writeFileSync(file, layoutEnv({ ...LAYOUT_ENV, ...overrides }));
  return { XIOPRO_LAYOUT: file };
}
