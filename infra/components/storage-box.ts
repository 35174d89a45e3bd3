import * as command from "@pulumi/command";
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { SECRET_PLACEHOLDER } from "../config/stack-file.js";
import { opensshPublicKey, SshKeyError, storageBoxAuthorizedKeys, type StorageBoxPlan } from "../plan/storage-box.js";

export interface BackupStorageBoxArgs {
  box: StorageBoxPlan;
  /** backupSftpPrivateKey (secret): its public half opens the box and the sub-account. */
  privateKey: pulumi.Output<string>;
}

/**
 * Installs the sub-account's authorized_keys through the main account (port 23, whose key the API
 * injected): Hetzner's API has no SSH keys for sub-accounts, each reads `.ssh/authorized_keys` in its
 * own home. Runs on the machine that runs `pulumi up` (needs `sftp`); the private key arrives on stdin.
 */
export const AUTHORIZE_SUBACCOUNT_SCRIPT = `set -eu
umask 077
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat >"$d/key"
printf '%s' "$AUTHORIZED_KEYS" >"$d/authorized_keys"
printf -- '-mkdir %s\\n-mkdir %s/.ssh\\nput %s %s/.ssh/authorized_keys\\nchmod 600 %s/.ssh/authorized_keys\\n' "$HOME_DIR" "$HOME_DIR" "$d/authorized_keys" "$HOME_DIR" "$HOME_DIR" >"$d/batch"
for _ in 1 2 3 4 5 6 7 8 9 10; do
  # A new box takes a while to accept SSH.
  if sftp -q -P 23 -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$d/known_hosts" -b "$d/batch" "$BOX_USER@$BOX_HOST"; then exit 0; fi
  sleep 15
done
echo "could not install the sub-account's SSH key on $BOX_HOST (is sftp installed here, and SSH enabled on the box?)" >&2
exit 1`;

/**
 * The sftp backup repository as Hetzner resources: a Storage Box (SSH only, reachable from outside
 * Hetzner so the operator's rebuild preflight can read it) and a sub-account whose home directory is
 * the repository path, so the node's key reaches nothing else on the box.
 */
export class BackupStorageBox extends pulumi.ComponentResource {
  public readonly box: hcloud.StorageBox;
  public readonly subaccount: hcloud.StorageBoxSubaccount;
  public readonly authorize: command.local.Command;
  /** The sub-account's host and user, once its key is installed: what the node's configs name. */
  public readonly host: pulumi.Output<string>;
  public readonly user: pulumi.Output<string>;

  constructor(name: string, args: BackupStorageBoxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("xiopro:infra:BackupStorageBox", name, {}, opts);
    const b = args.box;
    // The public half is no secret: plain in the state, so a preview shows which key opens the box.
    const publicKey = pulumi.unsecret(
      args.privateKey.apply((k) => {
        // The offline plan cannot decrypt the key: it shows where the public half will go.
        if (k === SECRET_PLACEHOLDER) return `${SECRET_PLACEHOLDER} public half of backupSftpPrivateKey`;
        try {
          return opensshPublicKey(k, `xiopro-${b.name}`);
        } catch (e) {
          if (e instanceof SshKeyError) throw new pulumi.ResourceError(`backupSftpPrivateKey ${e.message}`, this);
          throw e;
        }
      }),
    );
    // Required by the API, never used (keys only); Hetzner's policy: upper, lower, digit, special.
    const password = (suffix: string) =>
      new random.RandomPassword(
        `${name}-${suffix}`,
        {
          length: 32,
          minUpper: 2,
          minLower: 2,
          minNumeric: 2,
          minSpecial: 2,
          overrideSpecial: "!$%/()=?+#-.,;:~*@{}_&",
        },
        { parent: this },
      ).result;

    this.box = new hcloud.StorageBox(
      name,
      {
        name: b.name,
        storageBoxType: b.type,
        location: b.location,
        password: password("password"),
        sshKeys: [publicKey],
        accessSettings: {
          sshEnabled: true,
          reachableExternally: true,
          sambaEnabled: false,
          webdavEnabled: false,
          zfsEnabled: false,
        },
        deleteProtection: b.deleteProtection,
        labels: b.labels,
      },
      // The API cannot change a box's keys: a new key would replace the box, and a new box is an
      // empty repository. A key rotation is a runbook step (docs/runbooks/rebuild.md), never a replace.
      { parent: this, protect: b.pulumiProtect, ignoreChanges: ["sshKeys"] },
    );
    this.subaccount = new hcloud.StorageBoxSubaccount(
      `${name}-sub`,
      {
        storageBoxId: this.box.id.apply(Number),
        homeDirectory: b.homeDirectory,
        password: password("sub-password"),
        accessSettings: {
          sshEnabled: true,
          reachableExternally: true,
          readonly: false,
          sambaEnabled: false,
          webdavEnabled: false,
        },
        description: `pgBackRest and restic repository of ${b.labels.stack}`,
        labels: b.labels,
      },
      { parent: this, protect: b.pulumiProtect },
    );
    this.authorize = new command.local.Command(
      `${name}-authorize`,
      {
        create: AUTHORIZE_SUBACCOUNT_SCRIPT,
        interpreter: ["/bin/bash", "-c"],
        stdin: args.privateKey,
        environment: {
          BOX_HOST: this.box.server,
          BOX_USER: this.box.username,
          HOME_DIR: b.homeDirectory,
          AUTHORIZED_KEYS: publicKey.apply(storageBoxAuthorizedKeys),
        },
        triggers: [this.subaccount.id, publicKey],
      },
      { parent: this },
    );
    // Waiting for the key: the node's first backup must find a sub-account that lets it in.
    this.host = pulumi.all([this.subaccount.server, this.authorize.stdout]).apply(([h]) => h);
    this.user = pulumi.all([this.subaccount.username, this.authorize.stdout]).apply(([u]) => u);
    this.registerOutputs({ host: this.host, user: this.user });
  }
}
