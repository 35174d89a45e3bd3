// The optional WAL receiver (docs/runbooks/wal-receiver.md): pg_receivewal on a node apart from the
// database streams its WAL as it is written. Everything the receiver needs, on its own node and on
// the database's, is declared here.
import { libFile, NODE_LAYOUT, WAL_RECEIVER } from "../layout.js";
import { bool, int, obj } from "../schema.js";
import type { CredentialSpec, ServiceSpec } from "../service-spec.js";
import { postgresql } from "./postgresql.js";

interface WalReceiverOptions {
  synchronous: boolean;
  retentionHours: number;
  maxSlotWalKeepSizeGb: number;
}

const DEFAULTS: WalReceiverOptions = { synchronous: false, retentionHours: 48, maxSlotWalKeepSizeGb: 4 };
const ROLE_FILE = "pg-role-walreceiver";
/** The database's private port, as the postgresql service declares it. */
const DATABASE_PORT = postgresql.interfaces.find((i) => i.class === "C")!.port;

const role = (unit: string): CredentialSpec => ({
  file: ROLE_FILE,
  source: "generated",
  description: `PostgreSQL password of the replication role ${WAL_RECEIVER.role} (pg_receivewal)`,
  grants: [{ unit, id: ROLE_FILE }],
});

export const walReceiver: ServiceSpec<WalReceiverOptions> = {
  name: "wal-receiver",
  description:
    "pg_receivewal: streams the database's WAL to this node as it is written (RPO ≈ 0; synchronous when configured)",
  units: ["xiopro-walreceiver.service"],
  timers: ["xiopro-walreceiver-prune.timer"],
  singleton: true,
  requires: [{ service: "postgresql", on: "some-node" }],
  apartFrom: [{ service: "postgresql", why: "a copy on the database's own node is lost with it" }],
  packages: {
    names: ["postgresql-client"],
    note: "pg_receivewal comes with the client tools (the distro's default major version)",
  },
  // A client of the database's replication protocol: it listens on nothing.
  interfaces: [],
  options: obj(
    {
      synchronous: bool({
        description:
          "Commits wait until the wal-receiver node has the WAL on disk (RPO 0). Writes stop while that node is unreachable: see docs/runbooks/wal-receiver.md",
        default: DEFAULTS.synchronous,
      }),
      retentionHours: int({
        description: "Received WAL older than this is pruned on the receiver node (the repository keeps all of it)",
        min: 1,
        max: 720,
        default: DEFAULTS.retentionHours,
        unit: "hours",
      }),
      maxSlotWalKeepSizeGb: int({
        description:
          "max_slot_wal_keep_size: the most WAL the database keeps for a disconnected receiver before it gives up on it (and the disk stays safe)",
        min: 1,
        max: 1024,
        default: DEFAULTS.maxSlotWalKeepSizeGb,
        unit: "GB",
      }),
    },
    {
      description:
        "The WAL receiver (the wal-receiver service, on a node apart from the database) streams WAL as it is written, for an RPO of about 0 instead of backup.archiveTimeoutSeconds",
      default: DEFAULTS,
    },
  ),
  // The role's password: the database node sets it (the roles unit), the receiver logs in with it.
  credentials: [role("xiopro-walreceiver.service"), { ...role("xiopro-postgres-roles.service"), on: "postgresql" }],
  additions(o, _host, stack) {
    const db = stack.find((n) => n.services.includes("postgresql"))!;
    return {
      env: {
        XIOPRO_DATABASE_HOST: db.privateIp,
        XIOPRO_DATABASE_PORT: String(DATABASE_PORT),
        XIOPRO_WAL_ROLE: WAL_RECEIVER.role,
        XIOPRO_WAL_SLOT: WAL_RECEIVER.slot,
        XIOPRO_WAL_DIR: WAL_RECEIVER.dir,
        XIOPRO_WAL_SYNCHRONOUS: o.synchronous ? "1" : "0",
        XIOPRO_WAL_RETENTION_HOURS: String(o.retentionHours),
      },
    };
  },
  lends(o, self) {
    const slot = WAL_RECEIVER.slot;
    const mode = o.synchronous ? "sync" : "async";
    return [
      {
        service: "postgresql",
        additions: {
          conf: {
            "postgresql.conf": [
              `# WAL receiver on ${self.name}: kept WAL is capped so a dead receiver cannot fill the volume.`,
              `max_slot_wal_keep_size = ${o.maxSlotWalKeepSizeGb}GB`,
              ...(o.synchronous
                ? [
                    "# Synchronous: a commit returns once the receiver has flushed its WAL (RPO 0); writes wait while it is away.",
                    `synchronous_standby_names = '${slot}'`,
                  ]
                : []),
            ],
            "pg_hba.conf": [`host    replication ${WAL_RECEIVER.role} ${self.privateIp}/32 scram-sha-256`],
          },
          // setup-postgresql creates the replication role and the slot it streams from.
          env: { XIOPRO_WAL_RECEIVER_ROLE: WAL_RECEIVER.role, XIOPRO_WAL_RECEIVER_SLOT: slot },
          // A database restart (acceptance's persistence check) drops the connection; systemd restarts
          // the receiver within seconds, so the state may take a moment to settle.
          sqlChecks: [
            {
              name: `WAL receiver streaming (${o.synchronous ? "synchronous" : "asynchronous"})`,
              database: "postgres",
              sql: `SELECT coalesce((SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '${slot}' LIMIT 1), 'not connected') || ', slot ' || coalesce((SELECT CASE WHEN wal_status IN ('reserved', 'extended') THEN 'kept' ELSE wal_status END FROM pg_replication_slots WHERE slot_name = '${slot}'), 'absent')`,
              // A slot whose WAL is kept (reserved, or extended within max_slot_wal_keep_size) is healthy.
              expect: `streaming ${mode}, slot kept`,
              waitSeconds: 30,
            },
          ],
        },
      },
    ];
  },
  problems(o, _host, stack) {
    return stack
      .filter((n) => n.services.includes("postgresql"))
      .flatMap((db) => {
        const volume = db.volumes.find((v) => v.mountPoint === NODE_LAYOUT.XIOPRO_PG_VOLUME);
        return volume && o.maxSlotWalKeepSizeGb * 4 > volume.sizeGb
          ? [
              {
                field: "maxSlotWalKeepSizeGb",
                message: `${o.maxSlotWalKeepSizeGb} GB of WAL kept for a disconnected receiver is more than a quarter of ${db.key}'s ${volume.sizeGb} GB database volume`,
                fix: `use at most ${Math.max(1, Math.floor(volume.sizeGb / 4))} GB, or grow the volume`,
              },
            ]
          : [];
      });
  },
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
  rebuild: {
    keepNode: "a surviving receiver's WAL closes the gap after the repository's last segment",
    walCopy: { dir: WAL_RECEIVER.dir, unit: "xiopro-walreceiver.service", script: libFile("xiopro-walreceiver") },
  },
  files: [
    { template: "units/xiopro-walreceiver.service", path: "xiopro-walreceiver.service" },
    { template: "units/xiopro-walreceiver-prune.service", path: "xiopro-walreceiver-prune.service" },
    { template: "units/xiopro-walreceiver-prune.timer", path: "xiopro-walreceiver-prune.timer" },
    { template: "cloud-init/files/xiopro-walreceiver", path: libFile("xiopro-walreceiver") },
  ],
};
