// Every server of a stack, in one list: the lettered nodes (A, C, D: seed 000's meanings) that are
// enabled, then each pool's members. Validation, the secret inventory and the plan all walk this
// list, so a pool member is a node like any other, not a second code path.
import { LETTER_ROLES, type Role } from "../catalog/roles.js";
import { nodeName } from "./names.js";
import { NODE_KEYS, type NodeConfig, type StackConfig } from "./keys.js";
import { formatIpv4, parseIpv4 } from "./ipv4.js";

export interface StackNode {
  /** Stable id: nodeA, nodeC, nodeD, or <pool>-<n>. Outputs, resource names and `--node` use it. */
  key: string;
  /** Where its settings are in the stack config (nodeA, pools[0]), for messages. */
  path: string;
  /** Server (and host) name: <environment>-node-a, or <environment>-<pool>-<n>. */
  name: string;
  /** The name after the environment (node-a, workers-2): Pulumi resource names are built from it. */
  short: string;
  role: Role;
  /** For a pool member: its pool and its 1-based index. */
  pool?: { name: string; index: number; count: number };
  config: NodeConfig;
}

/** The enabled lettered nodes, then every pool member, in config order. */
export function stackNodes(c: StackConfig): StackNode[] {
  const lettered = NODE_KEYS.filter((k) => c[k].enabled).map((key) => ({
    key,
    path: key,
    name: nodeName(c.environment, key),
    short: nodeName(c.environment, key).slice(c.environment.length + 1),
    role: LETTER_ROLES[key],
    config: c[key],
  }));
  const pooled = c.pools.flatMap((p, pi) =>
    Array.from({ length: p.count }, (_, i): StackNode => {
      const { name, role, count, firstPrivateIp, ...fields } = p;
      const first = parseIpv4(firstPrivateIp);
      return {
        key: `${name}-${i + 1}`,
        path: `pools[${pi}]`,
        name: `${c.environment}-${name}-${i + 1}`,
        short: `${name}-${i + 1}`,
        role,
        pool: { name, index: i + 1, count },
        config: { ...fields, enabled: true, privateIp: first === undefined ? undefined : formatIpv4(first + i) },
      };
    }),
  );
  return [...lettered, ...pooled];
}

/** The names of the services a node's config lists (catalog names, and custom services' names). */
export const listedServices = (n: NodeConfig): string[] => n.services.map((s) => (typeof s === "string" ? s : s.name));

/** How loadBalancer.targets names a server: its pool's name, or a lettered node's key. */
export const targetName = (node: Pick<StackNode, "key" | "pool">): string => node.pool?.name ?? node.key;

/** Whether the stack's load balancer fronts this server. */
export const balanced = (c: StackConfig, node: Pick<StackNode, "key" | "pool">): boolean =>
  (c.loadBalancer?.targets ?? []).includes(targetName(node));
