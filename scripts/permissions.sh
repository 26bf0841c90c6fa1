# shellcheck shell=bash
# Least-privilege Deno permission flags of each dn executable, in one place:
# scripts/compile bakes them into the binaries, scripts/run-service and the
# tests (tests/helpers/network.ts) pass the same flags to `deno run`.
# Source it; it defines PERMS_CONTROL, PERMS_GATEWAY, PERMS_HOST, PERMS_CLI
# and the helpers dn_perms and dn_entry.
#
# Why each flag (checked with deno 2.9.6):
# - --allow-net whole: the broker, Redis, registry and listen addresses come
#   from the configuration, known only at run time.
# - --allow-read: the configuration directories only ($DN_STATE_DIR/config,
#   /etc/dn) and the local CA certificate scripts/infra generates
#   ($DN_STATE_DIR/tls/ca.pem, public; not the keys beside it), so `*File`
#   secrets and other amqpCaFile and acmeCaFile paths must live there too; hosts
#   and the CLI also open the Docker socket, which needs read and write on it.
#   The CLI reads app directories wherever the user keeps them, so it reads
#   everything. npm packages load without read permission, and so do the
#   dashboard's files (control/dashboard/assets.ts imports them as text, so
#   they are part of the module graph and of the compiled binary).
# - --allow-env whole: `--allow-env=DN_*` works in deno 2.9.6 for single
#   variables, but lib/config.ts reads Deno.env.toObject() and ioredis's
#   `debug` dependency runs Object.keys(process.env); both need full access.
# - no --allow-sys, --allow-ffi: ioredis and amqp-client need none.
# - hosts only: --allow-run=iptables,sysctl to keep the firewall rules that
#   fence app containers off and to check that bridged traffic passes them
#   (host/isolation.ts; Deno reads nothing under /proc/sys without
#   --allow-all). Control, the gateway and the CLI run nothing.
# - --allow-write only for the Docker socket (connecting to a Unix socket).
#
# The paths are fixed when sourced: compiled binaries keep the DN_STATE_DIR
# and DN_DOCKER_SOCKET of the machine that compiled them.

dn_state_dir="${DN_STATE_DIR:-/var/lib/dn}"
dn_docker_socket="${DN_DOCKER_SOCKET:-/var/run/docker.sock}"
dn_config_read="$dn_state_dir/config,/etc/dn,$dn_state_dir/tls/ca.pem"

# shellcheck disable=SC2034
PERMS_CONTROL=(--allow-net "--allow-read=$dn_config_read" --allow-env)
# shellcheck disable=SC2034
PERMS_GATEWAY=(--allow-net "--allow-read=$dn_config_read" --allow-env)
# shellcheck disable=SC2034
PERMS_HOST=(--allow-net "--allow-read=$dn_config_read,$dn_docker_socket"
  "--allow-write=$dn_docker_socket" --allow-env --allow-run=iptables,sysctl)
# shellcheck disable=SC2034
PERMS_CLI=(--allow-net --allow-read "--allow-write=$dn_docker_socket" --allow-env)

# dn_perms ROLE: sets the array PERMS to ROLE's flags (control, gateway,
# host, cli); fails for another ROLE.
# shellcheck disable=SC2034
dn_perms() {
  case "$1" in
  control) PERMS=("${PERMS_CONTROL[@]}") ;;
  gateway) PERMS=("${PERMS_GATEWAY[@]}") ;;
  host) PERMS=("${PERMS_HOST[@]}") ;;
  cli) PERMS=("${PERMS_CLI[@]}") ;;
  *) return 1 ;;
  esac
}

# dn_entry ROLE: prints ROLE's entry point, relative to the repository.
dn_entry() { printf '%s/main.ts\n' "$1"; }
