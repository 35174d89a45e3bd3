# shellcheck shell=bash
# xiopro-repository.sh: xiopro-lib.sh plus the backup repositories' credentials for pgBackRest and
# restic (repository 1 at Hetzner, 2 off-site: backup.env's XIOPRO_REPOS), sourced by the scripts
# that read a repository. It travels in the operations bundle with them (ADR 0002), which keeps it
# out of the user-data's 32 KiB.
# shellcheck source=xiopro-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/xiopro-lib.sh"

# secret_env CREDENTIAL VAR: exports VAR holding the credential's value (a missing one stops here).
secret_env() {
  local file
  file=$(credential "$1")
  printf -v "$2" '%s' "$(<"$file")"
  export "${2?}"
}

# repo_kind N: the kind of repository N (1 at Hetzner, 2 off-site) from backup.env.
repo_kind() {
  case $1 in
    1) [[ -n ${XIOPRO_REPO_KIND:-} ]] || die "XIOPRO_REPO_KIND is not set in $XIOPRO_ETC/backup.env" ;;
    2) [[ -n ${XIOPRO_REPO2_KIND:-} ]] || die "repository 2 is not configured (backup.offsite)" ;;
    *) die "repository $1 is not one of this node's (${XIOPRO_REPOS:-1})" ;;
  esac
  if (($1 == 1)); then echo "$XIOPRO_REPO_KIND"; else echo "$XIOPRO_REPO2_KIND"; fi
}

# Exports pgBackRest's secrets of every repository (cipher pass, S3 keys or SFTP key) as the
# PGBACKREST_REPO<N>_* variables it reads: its archive-push writes to all of them.
load_pgbackrest_credentials() {
  local n cred kind
  for n in ${XIOPRO_REPOS:-1}; do
    cred=repo
    ((n == 1)) || cred=repo$n
    kind=$(repo_kind "$n")
    secret_env pgbackrest-cipher-pass "PGBACKREST_REPO${n}_CIPHER_PASS"
    case $kind in
      s3)
        secret_env "$cred-s3-access-key" "PGBACKREST_REPO${n}_S3_KEY"
        secret_env "$cred-s3-secret-key" "PGBACKREST_REPO${n}_S3_KEY_SECRET"
        ;;
      sftp)
        printf -v "PGBACKREST_REPO${n}_SFTP_PRIVATE_KEY_FILE" '%s' "$(credential "$cred-sftp-key")"
        export "PGBACKREST_REPO${n}_SFTP_PRIVATE_KEY_FILE"
        ;;
      posix) ;;
      *) die "unknown kind '$kind' of repository $n" ;;
    esac
  done
}

# restic_repository N: points restic at repository N (default 1): RESTIC_REPOSITORY, its password
# and transport secrets. restic has one repository per run, so the jobs call this per repository.
restic_repository() {
  local n=${1:-1} cred=repo host port user
  # Repository 1's names are the plain ones; keep them before the first switch overwrites them
  # (once: an empty region of an sftp repository 1 is kept empty, not taken from repository 2).
  if [[ ! -v XIOPRO_REPO1_RESTIC ]]; then
    XIOPRO_REPO1_RESTIC=${RESTIC_REPOSITORY:?RESTIC_REPOSITORY is not set in $XIOPRO_ETC/backup.env}
    XIOPRO_REPO1_REGION=${AWS_DEFAULT_REGION:-}
  fi
  XIOPRO_RESTIC_KIND=$(repo_kind "$n")
  if ((n == 1)); then
    RESTIC_REPOSITORY=$XIOPRO_REPO1_RESTIC AWS_DEFAULT_REGION=$XIOPRO_REPO1_REGION
    host=${XIOPRO_SFTP_HOST:-} port=${XIOPRO_SFTP_PORT:-23} user=${XIOPRO_SFTP_USER:-}
  else
    cred=repo$n RESTIC_REPOSITORY=$XIOPRO_REPO2_RESTIC_REPOSITORY AWS_DEFAULT_REGION=${XIOPRO_REPO2_AWS_DEFAULT_REGION:-}
    host=${XIOPRO_REPO2_SFTP_HOST:-} port=${XIOPRO_REPO2_SFTP_PORT:-23} user=${XIOPRO_REPO2_SFTP_USER:-}
  fi
  export RESTIC_REPOSITORY AWS_DEFAULT_REGION RESTIC_PASSWORD_FILE
  RESTIC_PASSWORD_FILE=$(credential restic-password)
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY RESTIC_SFTP_COMMAND
  case $XIOPRO_RESTIC_KIND in
    s3)
      secret_env "$cred-s3-access-key" AWS_ACCESS_KEY_ID
      secret_env "$cred-s3-secret-key" AWS_SECRET_ACCESS_KEY
      ;;
    sftp)
      RESTIC_SFTP_COMMAND="ssh -i $(credential "$cred-sftp-key") -p $port -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new ${user:?}@${host:?} -s sftp"
      ;;
    posix) ;;
    *) die "unknown kind '$XIOPRO_RESTIC_KIND' of repository $n" ;;
  esac
}

# Repository 1's restic settings (the restore reads it unless told otherwise).
load_restic_credentials() { restic_repository 1; }

# restic with the sftp command when needed.
restic_cmd() {
  if [[ ${XIOPRO_RESTIC_KIND:-${XIOPRO_REPO_KIND:-}} == sftp ]]; then
    restic -o sftp.command="$RESTIC_SFTP_COMMAND" "$@"
  else
    restic "$@"
  fi
}
