# shellcheck shell=bash
# Sourced by scripts/machines.d/ha.sh: the RabbitMQ node of each of machines 1-3.

ha_rabbit_dir() { echo "$(machine_dir "$NET-m$1")/rabbitmq"; }
ha_node() { echo "dn@$(machine_addr "$1")"; }

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
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {${addr//./,}} +sbwt none +sbwtdcpu none +sbwtdio none +S 1:1"
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

# ha_rabbit_up I: node I, unless it runs.
ha_rabbit_up() {
  local k="$1" dir tls addr
  dir="$(ha_rabbit_dir "$k")"
  pid_alive "$dir/rabbitmq.pid" beam.smp && return 0
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
  chown -R rabbitmq:rabbitmq "$dir"
  chmod 750 "$dir"
  ha_rabbit_env "$k"
  ns_run "$NET-m$k" rabbitmq env "${RABBIT_ENV[@]}" "$RABBIT_BIN/rabbitmq-server" -detached
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

