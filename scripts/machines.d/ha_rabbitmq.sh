# shellcheck shell=bash
# Sourced by scripts/machines.d/ha.sh: the RabbitMQ node of each of machines 1-3.

ha_rabbit_dir() { echo "$(machine_dir "$NET-m$1")/rabbitmq"; }
ha_node() { echo "dn@$(machine_addr "$1")"; }
# The Erlang distribution over TLS, node to node and rabbitmqctl to its node
# (RabbitMQ's clustering-ssl guide, an -ssl_dist_optfile: ha_dist_tls_config).
ha_dist_args() { echo "-proto_dist inet_tls -ssl_dist_optfile $(ha_rabbit_dir "$1")/dist_tls.config"; }

# ha_rabbit_env I: RABBIT_ENV, node I's environment (server and CLI).
ha_rabbit_env() {
  local dir addr
  dir="$(ha_rabbit_dir "$1")"
  addr="$(machine_addr "$1")"
  RABBIT_ENV=(
    HOME="$dir"
    RABBITMQ_NODENAME="$(ha_node "$1")"
    RABBITMQ_USE_LONGNAME=true
    RABBITMQ_DIST_PORT="$HA_DIST_PORT"
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$dir/mnesia"
    RABBITMQ_LOG_BASE="$dir/log"
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    # As scripts/infra's node: no busy-waiting schedulers, one scheduler.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$(ha_dist_args "$1") -kernel inet_dist_use_interface {${addr//./,}} +sbwt none +sbwtdcpu none +sbwtdio none +S 1:1"
    RABBITMQ_CTL_ERL_ARGS="$(ha_dist_args "$1")"
    ERL_EPMD_ADDRESS="$addr"
  )
}

# ha_ctl I ARGS...: rabbitmqctl against node I, inside machine I.
ha_ctl() {
  local k="$1"
  shift
  ha_rabbit_env "$k"
  ns_run "$NET-m$k" rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmqctl" -l -n "$(ha_node "$k")" "$@"
}

ha_rabbit_running() {
  pid_alive "$(ha_rabbit_dir "$1")/rabbitmq.pid" beam.smp &&
    (exec 3<>"/dev/tcp/$(machine_addr "$1")/$HA_AMQPS_PORT") 2>/dev/null
}

# ha_cookie: the cluster's Erlang cookie, made once.
ha_cookie() {
  local file="$STATE/machines/$NET.cookie"
  [ -s "$file" ] || (umask 077 && openssl rand -hex 20 | tr -d '\n' >"$file")
  echo "$file"
}

# ha_dist_tls_config I: node I's distribution TLS options, an Erlang term
# (server: peers and rabbitmqctl connecting to it; client: it connecting to
# peers). Both sides present the machine's certificate and verify the other's
# against the local CA; a peer without one is refused. OTP checks a peer's
# name (here its address) as a DNS name against its certificate: match_fun
# compares it with the certificate's IP addresses. TLS 1.2, OTP's default
# for the distribution.
ha_dist_tls_config() {
  local tls common
  tls="$(machine_dir "$NET-m$1")/tls"
  common="{cacertfile, \"$DN_TLS_DIR/ca.pem\"}, {certfile, \"$tls/server.pem\"},
    {keyfile, \"$tls/server-rabbitmq.key\"}, {verify, verify_peer}"
  cat <<EOF
%% Written by scripts/machines (--ha): TLS of node $1's Erlang distribution.
[{server, [$common,
    {fail_if_no_peer_cert, true}]},
 {client, [$common,
    {customize_hostname_check, [{match_fun,
      fun ({dns_id, Name}, {iPAddress, Bytes}) when length(Bytes) =:= 4 ->
              inet:parse_ipv4strict_address(Name) =:= {ok, list_to_tuple(Bytes)};
          (_, _) -> default
      end}]}]}].
EOF
}

# ha_rabbit_up I: node I, unless it runs (one an older `up` started with a
# plain distribution is stopped first).
ha_rabbit_up() {
  local k="$1" dir tls addr
  dir="$(ha_rabbit_dir "$k")"
  if pid_alive "$dir/rabbitmq.pid" beam.smp; then
    tr '\0' ' ' <"/proc/$(tr -dc 0-9 <"$dir/rabbitmq.pid")/cmdline" | grep -q -- '-proto_dist inet_tls' &&
      return 0
    ha_rabbit_stop "$k"
  fi
  tls="$(machine_dir "$NET-m$k")/tls"
  addr="$(machine_addr "$k")"
  mkdir -p "$dir/mnesia" "$dir/log"
  install -o rabbitmq -g rabbitmq -m 400 "$(ha_cookie)" "$dir/.erlang.cookie"
  cat >"$dir/rabbitmq.conf" <<EOF
# Written by scripts/machines (--ha): RabbitMQ node $k of $HA_MACHINES, on $NET-m$k.
listeners.tcp = none
listeners.ssl.default = $addr:$HA_AMQPS_PORT
ssl_options.cacertfile = $DN_TLS_DIR/ca.pem
ssl_options.certfile = $tls/server.pem
ssl_options.keyfile = $tls/server-rabbitmq.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
load_definitions = $STATE/rabbitmq/definitions.json
log.console = false
log.file.level = info
EOF
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/advanced.config"
  ha_dist_tls_config "$k" >"$dir/dist_tls.config"
  chown -R rabbitmq:rabbitmq "$dir"
  chmod 750 "$dir"
  ha_rabbit_env "$k"
  ns_run "$NET-m$k" rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmq-server" -detached
}

# ha_rabbit_stop I: SIGTERM to node I (RabbitMQ shuts down cleanly on it); waits up to 60 s.
ha_rabbit_stop() {
  local pid i=0
  pid="$(tr -dc 0-9 <"$(ha_rabbit_dir "$1")/rabbitmq.pid")"
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || die "$NET-m$1: rabbitmq (pid $pid) did not stop"
    sleep 0.2
  done
}

# ha_rabbit_join I: node I (2 or 3) joins node 1's cluster, once; a node
# that joined before rejoins by itself on boot.
ha_rabbit_join() {
  local k="$1" dir
  dir="$(ha_rabbit_dir "$k")"
  wait_for 120 "rabbitmq on $NET-m$k (see $dir/log/)" ha_rabbit_running "$k"
  ha_ctl "$k" -q await_startup --timeout 120 >/dev/null
  [ "$(cat "$dir/mnesia/dn-joined" 2>/dev/null)" = "$(ha_node 1)" ] && return 0
  ha_ctl "$k" -q stop_app >/dev/null
  ha_ctl "$k" -q join_cluster "$(ha_node 1)" >/dev/null
  ha_ctl "$k" -q start_app >/dev/null
  ha_node 1 >"$dir/mnesia/dn-joined"
  log "$NET-m$k: rabbitmq $(ha_node "$k") joined $(ha_node 1)"
}

