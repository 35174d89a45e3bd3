import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodePlan } from "../plan/index.js";
import type { SecretPlan } from "../config/secrets.js";
import { libFile } from "../catalog/layout.js";

export interface CredentialsArgs {
  node: NodePlan;
  /** Admin-path address: the tailnet name, or the public IPv4 with an SSH allowlist. */
  host: pulumi.Input<string>;
  user: string;
  privateKey: pulumi.Input<string>;
  /** A new server (replacement) must get every credential again. */
  serverId: pulumi.Input<string>;
  /** Secret value per credential file. */
  values: Record<string, pulumi.Input<string>>;
}

/** cloud-init 22.4's `status --wait` can return before modules-final ends: wait for boot-finished. */
const WAIT_FOR_BOOT =
  'i=0; while [ ! -e /var/lib/cloud/instance/boot-finished ]; do i=$((i+1)); if [ "$i" -gt 180 ]; then echo "cloud-init did not finish within 30 minutes" >&2; exit 1; fi; sleep 10; done';

/** Units to restart for a credential: templates become instance patterns. */
export function restartUnits(secret: SecretPlan): string[] {
  return [
    ...new Set(
      [...secret.grants.map((g) => g.unit), ...(secret.restart ?? [])].map((u) =>
        u.replace(/@\.service$/, "@*.service"),
      ),
    ),
  ];
}

/** The remote command that stores one credential (its value arrives on stdin, never in argv). */
export function installCommand(secret: SecretPlan): string {
  const units = restartUnits(secret)
    .map((u) => `'${u}'`)
    .join(" ");
  return `set -eu; ${WAIT_FOR_BOOT}; sudo ${libFile("xiopro-credentials")} install ${secret.file} ${units}`;
}

/**
 * In-place update (userDataChange: in-place): the node's files from stdin, applied by xiopro-guard,
 * which reverts them unless CONFIRM_CONFIG_COMMAND follows within `confirmSeconds`. A node whose
 * operations bundle has not brought xiopro-guard yet (a new server) unpacks them and re-runs bootstrap.
 */
export function applyConfigCommand(confirmSeconds: number): string {
  const guard = libFile("xiopro-guard");
  return `set -eu; ${WAIT_FOR_BOOT}; if [ -x ${guard} ]; then sudo ${guard} apply --bound ${confirmSeconds}; else base64 -d | sudo tar -xzf - -C / && sudo ${libFile("bootstrap")}; fi`;
}

/** Run over a new connection after the apply: it can only confirm if the admin path still works. */
export const CONFIRM_CONFIG_COMMAND = `set -eu; if [ -x ${libFile("xiopro-guard")} ]; then sudo ${libFile("xiopro-guard")} confirm; fi`;

/** Operations bundle (ADR 0002): checked on the node before it replaces anything. */
export const APPLY_OPS_COMMAND = `set -eu; ${WAIT_FOR_BOOT}; sudo ${libFile("xiopro-ops")} apply`;

/** After a volume's resize (Hetzner grows the disk online): its filesystem takes the new size. */
export const GROW_VOLUMES_COMMAND = `set -eu; ${WAIT_FOR_BOOT}; sudo ${libFile("xiopro-volumes")} grow`;

export const FIRST_BACKUP_COMMAND = `set -eu; ${WAIT_FOR_BOOT}; sudo ${libFile("xiopro-credentials")} first-backup`;

/**
 * Delivers a node's secrets after boot over the admin path (docs/architecture.md D3): each value is piped into
 * `systemd-creds encrypt` on the host, one remote command per credential, so changing one secret
 * re-runs only its command and restarts only the units granted it. Then the first backup runs.
 */
export class Credentials extends pulumi.ComponentResource {
  public readonly commands: Record<string, command.remote.Command>;

  constructor(name: string, args: CredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:Credentials", name, {}, opts);
    const connection = { host: args.host, user: args.user, privateKey: args.privateKey };
    this.commands = {};
    for (const s of args.node.secrets) {
      const value = args.values[s.file];
      if (value === undefined)
        throw new pulumi.ResourceError(`no value for credential ${s.file} of ${args.node.name}`, this);
      this.commands[s.file] = new command.remote.Command(
        `${name}-${s.file}`,
        { connection, create: installCommand(s), stdin: pulumi.secret(value), triggers: [args.serverId] },
        { parent: this },
      );
    }
    if (args.node.services.some((s) => s.name === "backup")) {
      new command.remote.Command(
        `${name}-first-backup`,
        { connection, create: FIRST_BACKUP_COMMAND, triggers: [args.serverId] },
        { parent: this, dependsOn: Object.values(this.commands) },
      );
    }
    this.registerOutputs({});
  }
}
