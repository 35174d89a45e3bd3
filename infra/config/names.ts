// Names the toolkit gives, which a config must not collide with: validation (load.ts) and the plan
// both read them from here.

/** A node's server (and host) name; its DNS name is this inside the stack's domain. */
export function nodeName(environment: string, key: "nodeA" | "nodeC" | "nodeD"): string {
  return `${environment}-node-${key.slice(-1).toLowerCase()}`;
}

/** The labels the toolkit sets on every server (user labels may not use these keys). */
export const TOOLKIT_LABELS = ["env", "node", "role", "pool", "managed-by", "stack"] as const;
