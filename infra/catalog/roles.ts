// What a node is for: the Hetzner `role` label, and the meaning an operator reads in the plan. The
// lettered nodes keep seed 000's meanings (A control, C compute, D product runtime); a pool takes any
// role from this list (seed 004 draws orchestrators, a monitoring node and a CI runner).
export const ROLES = {
  control: "the control plane: ingress, API, agent runtime, PostgreSQL, backups, telemetry (Node A)",
  compute: "heavy compute or models, reached over the private network (Node C)",
  product: "product runtime, isolated from the control plane (Node D)",
  worker: "agent workers beside the control plane",
  monitoring: "metrics, alerts and dashboards for the other nodes",
  "ci-runner": "CI jobs (self-hosted GitHub Actions runners): no inbound port",
  "wal-receiver": "a streamed copy of the database's WAL, apart from the database",
} as const;

export type Role = keyof typeof ROLES;
export const ROLE_NAMES = Object.keys(ROLES) as Role[];

/** The lettered nodes' fixed roles. */
export const LETTER_ROLES = { nodeA: "control", nodeC: "compute", nodeD: "product" } as const satisfies Record<
  string,
  Role
>;
