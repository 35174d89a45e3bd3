// Renders one node's #cloud-config from the plan. Pure: same plan → same bytes.
import { stringify } from "yaml";
import type { NodePlan, Plan } from "../infra/plan";

export const ADMIN_USER = "ops";

/** Facts known only after resources exist; the rest comes from the plan. */
export interface RenderFacts {
  /** Hetzner volume id per volume key: the guest sees /dev/disk/by-id/scsi-0HC_Volume_<id>. */
  volumeIds: Record<string, string>;
}

export function renderUserData(plan: Plan, node: NodePlan, facts: RenderFacts): string {
  const doc = {
    hostname: node.name,
    fqdn: node.fqdn,
    prefer_fqdn_over_hostname: false,
    users: [
      {
        name: ADMIN_USER,
        gecos: "xiopro operator",
        groups: ["sudo"],
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: plan.sshKeys.map((k) => k.publicKey),
      },
    ],
    disable_root: true,
    ssh_pwauth: false,
    ssh_genkeytypes: ["ed25519"],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
