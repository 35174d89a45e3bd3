// The #cloud-config of a bake server (`npm run bake`, ADR 0008): the stock image brings its packages
// up to date and installs a node's package set the way the node's own first boot would (same apt
// settings), starts none of their services, and powers off only when every package is installed. The
// snapshot of that disk is what a baked node boots; its own user-data is unchanged (cloud-init then
// finds the packages present). No node facts, names or secrets: one snapshot serves every node of the
// set.
import { stringify } from "yaml";
import type { BakeSet } from "../infra/plan/bake.js";
import { APT_CONF, NO_PACKAGE_CLUSTER, NO_PACKAGE_CLUSTER_FILE, NO_SERVICE_STARTS, POLICY_RC_D } from "./render.js";

export function renderBakeUserData(set: BakeSet): string {
  const installed = set.packages.map((p) => `dpkg-query -W -f='\${Status}' ${p} | grep -q 'install ok installed'`);
  const doc = {
    apt: { conf: APT_CONF },
    package_update: true,
    // Security updates are in the snapshot; nodes booted from it start current as of the bake.
    package_upgrade: true,
    packages: set.packages,
    write_files: [
      { path: POLICY_RC_D, permissions: "0755", content: NO_SERVICE_STARTS },
      ...(set.packages.some((p) => /^postgresql(-\d+)?$/.test(p))
        ? [{ path: NO_PACKAGE_CLUSTER_FILE, permissions: "0644", content: NO_PACKAGE_CLUSTER }]
        : []),
    ],
    runcmd: [
      ["rm", "-f", POLICY_RC_D],
      ["apt-get", "clean"],
      // Hetzner sets a root password on a server made without SSH keys: its hash stays out of the snapshot.
      ["usermod", "--password", "*", "root"],
      // A new machine id on each server made from the snapshot (DHCP client ids, journal).
      ["truncate", "-s", "0", "/etc/machine-id"],
    ],
    // No power-off, so no snapshot, unless every package is installed: the bake CLI waits for the
    // server to be off and gives up after its bound.
    power_state: { mode: "poweroff", condition: ["sh", "-c", installed.join(" && ")] },
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
