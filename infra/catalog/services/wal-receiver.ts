import { libFile, WAL_RECEIVER } from "../layout.js";
import type { CredentialSpec, ServiceSpec } from "../service-spec.js";

/** The replication role's password: the database node sets it, the receiver logs in with it. */
export const RECEIVER_ROLE_CREDENTIAL: CredentialSpec = {
  file: "pg-role-walreceiver",
  source: "generated",
  description: `PostgreSQL password of the replication role ${WAL_RECEIVER.role} (pg_receivewal)`,
  grants: [{ unit: "xiopro-walreceiver.service", id: "pg-role-walreceiver" }],
};

export const walReceiver: ServiceSpec = {
  name: "wal-receiver",
  description:
    "pg_receivewal: streams the database's WAL to this node as it is written (RPO ≈ 0; synchronous when configured)",
  units: ["xiopro-walreceiver.service"],
  timers: ["xiopro-walreceiver-prune.timer"],
  singleton: true,
  credentials: [RECEIVER_ROLE_CREDENTIAL],
  alerts: [
    {
      group: "xiopro-backups",
      rule: {
        alert: "WalReceiverDisconnected",
        severity: "critical",
        // The slot counts come from the database node's exporter (its queries name the slot).
        expr: "xiopro_walreceiver_slots > 0 and xiopro_walreceiver_active == 0",
        for: "2m",
        summary: "The WAL receiver does not stream from {{ $labels.node }}",
        description:
          "Its slot has been inactive for 2 minutes: the RPO is back to archive_timeout, and with a synchronous receiver writes are waiting. docs/runbooks/wal-receiver.md",
      },
    },
  ],
  files: [
    { template: "units/xiopro-walreceiver.service", path: "xiopro-walreceiver.service" },
    { template: "units/xiopro-walreceiver-prune.service", path: "xiopro-walreceiver-prune.service" },
    { template: "units/xiopro-walreceiver-prune.timer", path: "xiopro-walreceiver-prune.timer" },
    { template: "cloud-init/files/xiopro-walreceiver", path: libFile("xiopro-walreceiver") },
  ],
  requires: [{ service: "postgresql", on: "some-node" }],
  apartFrom: [{ service: "postgresql", why: "a copy on the database's own node is lost with it" }],
  packages: {
    names: ["postgresql-client"],
    note: "pg_receivewal comes with the client tools (the distro's default major version)",
  },
  // A client of the database's replication protocol: it listens on nothing.
  interfaces: [],
};
