# shellcheck shell=bash
# Sourced by scripts/machines: the set without a single point of failure,
# one per machine on machines 1-3 of a net (`scripts/machines up N --ha`,
# N >= 3; `scripts/up --machines N` passes --ha):
#
#   RabbitMQ  node dn@<machine address> (long names: the address is the
#             name, it resolves in every namespace), AMQPS on :5671 with the
#             machine's own certificate (local CA, names its address), no
#             plain AMQP; Erlang distribution on :25672 over TLS (the
#             machine's certificate, peers verified against the local CA;
#             rabbitmq/dist_tls.config) and epmd on :4369 (plain: names to
#             ports); one Erlang cookie for the cluster; users, vhosts and
#             permissions from scripts/infra's definitions.json. Nodes 2 and
#             3 join node 1 once; a restarted node rejoins by itself.
#   Redis     :6379, the primary on machine 1 at first, replicas on 2 and 3;
#             TLS only (the machine's certificate; replication over TLS,
#             verified against the local CA), AOF on, scripts/infra's password.
#   Sentinel  :26379 on each of the three, TLS only likewise, quorum 2,
#             primary named `dn`, down after 1 s.
#   Gateways  on machines 1 and 2 (:8080, metrics :9180 on the machine
#             address), next to the one on the edge; both serve every app.
#
# Each machine keeps these under $DN_STATE_DIR/machines/NET-mI/ (rabbitmq/,
# redis/, sentinel/, tls/); the cookie is $DN_STATE_DIR/machines/NET.cookie.
# Machines still reach each other only where the cluster needs it (ha_firewall):
# any machine to AMQPS, Redis and Sentinel of machines 1-3; machines 1-3 to
# each other's epmd and distribution ports; the gateway machines to every
# machine's request listener and published app ports. Nothing else.
#
# Config files ($DN_CONFIG_DIR, mode 600; `test-` ones for the test vhost):
# machine-NET-mI.json (hosts) and gateway-NET-mI.json (machine gateways)
# list their own machine's node first, control-NET.json and gateway-NET.json
# (control and gateway on the edge) machine 1's; control waits for one
# replica (redisWaitReplicas 1).

HA_MACHINES=3
HA_GATEWAY_MACHINES=2
HA_AMQPS_PORT=5671
HA_EPMD_PORT=4369
HA_DIST_PORT=25672
HA_REDIS_PORT=6379
HA_SENTINEL_PORT=26379
HA_GATEWAY_PORT=8080
HA_GATEWAY_METRICS_PORT=9180
HA_MASTER_NAME=dn
RABBIT_BIN=/usr/lib/rabbitmq/bin
# shellcheck source=ha_rabbitmq.sh
source "$root/scripts/machines.d/ha_rabbitmq.sh"
# shellcheck source=ha_config.sh
source "$root/scripts/machines.d/ha_config.sh"

# ha_ensure_packages: Sentinel and jq, when missing.
ha_ensure_packages() {
  local -a need=()
  command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
  command -v jq >/dev/null || need+=(jq)
  [ "${#need[@]}" -eq 0 ] && return 0
  log "machines: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  # The package starts a Sentinel of its own where it can: dn does not use it.
  service redis-sentinel stop >/dev/null 2>&1 || true
}

# ha_addrs: addresses of machines 1-3, one a line.
ha_addrs() { local k; for k in $(seq 1 "$HA_MACHINES"); do machine_addr "$k"; echo; done; }

# ha_gateway_addrs: addresses of the machines with a gateway, comma-separated.
ha_gateway_addrs() {
  local k out=""
  for k in $(seq 1 "$HA_GATEWAY_MACHINES"); do out+="${out:+,}$(machine_addr "$k")"; done
  echo "$out"
}

# ns_run NAME USER CMD...: CMD as USER inside machine NAME, from /, without
# the lock fd.
ns_run() {
  local name="$1" user="$2"
  shift 2
  (cd / && exec 8>&- && ip netns exec "$name" runuser -u "$user" -- "$@")
}

wait_for() {
  local limit=$(($1 * 5)) what="$2" i=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt "$limit" ] || die "timed out waiting for $what"
    sleep 0.2
  done
}

pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(tr -dc 0-9 <"$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# ---------------------------------------------------------------- firewall

# ha_firewall I: what machine I lets in from other machines (above the
# machine's DROP), and what the edge's bridge forwards between machines.
ha_firewall() {
  local name="$NET-m$1" addr gw peer
  addr="$(machine_addr "$1")"
  if [ "$1" -le "$HA_MACHINES" ]; then
    machine_rule "$name" INPUT -i eth0 -s "$SUBNET.0/24" -d "$addr" -p tcp -m multiport \
      --dports "$HA_AMQPS_PORT,$HA_REDIS_PORT,$HA_SENTINEL_PORT" -j ACCEPT
    edge_rule filter FORWARD -i "$BRIDGE" -o "$BRIDGE" -d "$addr" -p tcp -m multiport \
      --dports "$HA_AMQPS_PORT,$HA_REDIS_PORT,$HA_SENTINEL_PORT" -j ACCEPT
    for peer in $(ha_addrs); do
      [ "$peer" = "$addr" ] && continue
      machine_rule "$name" INPUT -i eth0 -s "$peer" -d "$addr" -p tcp -m multiport \
        --dports "$HA_EPMD_PORT,$HA_DIST_PORT" -j ACCEPT
      edge_rule filter FORWARD -i "$BRIDGE" -o "$BRIDGE" -s "$peer" -d "$addr" -p tcp -m multiport \
        --dports "$HA_EPMD_PORT,$HA_DIST_PORT" -j ACCEPT
    done
  fi
  for gw in ${HA_GATEWAYS//,/ }; do
    [ "$gw" = "$addr" ] && continue
    machine_rule "$name" INPUT -i eth0 -s "$gw" -d "$addr" -p tcp --dport "$HOST_REQUEST_PORT" -j ACCEPT
    machine_rule "$name" DOCKER-USER -i eth0 -s "$gw" -p tcp -j ACCEPT
    edge_rule filter FORWARD -i "$BRIDGE" -o "$BRIDGE" -s "$gw" -d "$addr" -p tcp -j ACCEPT
  done
  edge_rule filter FORWARD -i "$BRIDGE" -o "$BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
}

# ---------------------------------------------------------------- TLS

# ha_tls I: machine I's server certificate (local CA, names its address),
# issued once, with a key copy for RabbitMQ and one for Redis.
ha_tls() {
  local name="$NET-m$1" dir addr
  dir="$(machine_dir "$name")/tls"
  addr="$(machine_addr "$1")"
  mkdir -p "$dir"
  chmod 755 "$dir"
  if ! openssl verify -CAfile "$DN_TLS_DIR/ca.pem" "$dir/server.pem" >/dev/null 2>&1; then
    (umask 077 &&
      openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/O=dn/CN=$name" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null &&
      tls_sign "$dir/server.csr" "$DN_TLS_DIR/ca.pem" "$DN_TLS_DIR/ca.key" 825 \
        <(printf '%s\n' "subjectAltName=IP:$addr,DNS:$name" \
          "basicConstraints=critical,CA:FALSE" \
          "keyUsage=critical,digitalSignature,keyEncipherment" \
          "extendedKeyUsage=serverAuth,clientAuth") \
        "$dir/server.pem") || die "$name: openssl could not issue its certificate"
    rm -f "$dir/server.csr"
    chmod 644 "$dir/server.pem"
  fi
  install -o rabbitmq -g rabbitmq -m 600 "$dir/server.key" "$dir/server-rabbitmq.key"
  install -o redis -g redis -m 600 "$dir/server.key" "$dir/server-redis.key"
}

# ---------------------------------------------------------------- Redis and Sentinel

ha_redis_dir() { echo "$(machine_dir "$NET-m$1")/redis"; }
ha_sentinel_dir() { echo "$(machine_dir "$NET-m$1")/sentinel"; }

# ha_cli SECONDS ADDR PORT ARGS...: redis-cli over TLS (verified against the
# local CA) with the password, given up after SECONDS (a dead machine does
# not refuse).
ha_cli() {
  local limit="$1" addr="$2" port="$3"
  shift 3
  REDISCLI_AUTH="$(secret redis)" timeout "$limit" redis-cli --tls --cacert "$DN_TLS_DIR/ca.pem" \
    -h "$addr" -p "$port" "$@"
}

# ha_ping ADDR PORT: true when the Redis or Sentinel there answers.
ha_ping() { [ "$(ha_cli 1 "$1" "$2" ping 2>/dev/null)" = PONG ]; }

# ha_tls_config I: the TLS part of machine I's Redis or Sentinel config: TLS
# only, with the machine's certificate; replication (Sentinel: monitoring and
# talk among Sentinels) over TLS too, verified against the local CA.
ha_tls_config() {
  local tls
  tls="$(machine_dir "$NET-m$1")/tls"
  printf '%s\n' "port 0" "tls-port $2" "tls-cert-file $tls/server.pem" \
    "tls-key-file $tls/server-redis.key" "tls-ca-cert-file $DN_TLS_DIR/ca.pem" \
    "tls-auth-clients no" "tls-replication yes" 'tls-protocols "TLSv1.2 TLSv1.3"'
}

# ha_redis_up I: Redis of machine I, unless it runs; its configuration is
# written once (Sentinel rewrites it after a failover).
ha_redis_up() {
  local k="$1" dir addr password
  dir="$(ha_redis_dir "$k")"
  pid_alive "$dir/redis.pid" redis-server && return 0
  addr="$(machine_addr "$k")"
  password="$(secret redis)"
  mkdir -p "$dir/data"
  if [ ! -s "$dir/redis.conf" ]; then
    {
      echo "# Written once by scripts/machines (--ha); Sentinel rewrites it after a failover."
      echo "bind $addr 127.0.0.1"
      ha_tls_config "$k" "$HA_REDIS_PORT"
      echo "protected-mode yes"
      echo "daemonize yes"
      echo "pidfile $dir/redis.pid"
      echo "logfile $dir/redis.log"
      echo "dir $dir/data"
      echo "appendonly yes"
      echo "appendfsync everysec"
      echo "requirepass $password"
      echo "masterauth $password"
      echo "repl-diskless-sync-delay 0"
      [ "$k" = 1 ] || echo "replicaof $(machine_addr 1) $HA_REDIS_PORT"
    } >"$dir/redis.conf"
  fi
  chown -R redis:redis "$dir"
  chmod 700 "$dir"
  chmod 600 "$dir/redis.conf"
  ns_run "$NET-m$k" redis redis-server "$dir/redis.conf"
}

# ha_sentinel_up I: Sentinel of machine I, unless it runs (config written once).
ha_sentinel_up() {
  local k="$1" dir addr password
  dir="$(ha_sentinel_dir "$k")"
  pid_alive "$dir/sentinel.pid" redis-sentinel && return 0
  addr="$(machine_addr "$k")"
  password="$(secret redis)"
  mkdir -p "$dir"
  if [ ! -s "$dir/sentinel.conf" ]; then
    cat >"$dir/sentinel.conf" <<EOF
# Written once by scripts/machines (--ha); Sentinel rewrites it.
bind $addr 127.0.0.1
$(ha_tls_config "$k" "$HA_SENTINEL_PORT")
protected-mode yes
daemonize yes
pidfile $dir/sentinel.pid
logfile $dir/sentinel.log
dir $dir
requirepass $password
sentinel sentinel-pass $password
sentinel monitor $HA_MASTER_NAME $(machine_addr 1) $HA_REDIS_PORT 2
sentinel auth-pass $HA_MASTER_NAME $password
sentinel down-after-milliseconds $HA_MASTER_NAME 1000
sentinel failover-timeout $HA_MASTER_NAME 10000
sentinel parallel-syncs $HA_MASTER_NAME 1
EOF
  fi
  chown -R redis:redis "$dir"
  chmod 700 "$dir"
  chmod 600 "$dir/sentinel.conf"
  ns_run "$NET-m$k" redis redis-sentinel "$dir/sentinel.conf"
}

# ha_sentinel_ask ARGS...: a command to the first Sentinel that answers.
ha_sentinel_ask() {
  local addr
  for addr in $(ha_addrs); do
    ha_ping "$addr" "$HA_SENTINEL_PORT" || continue
    ha_cli 2 "$addr" "$HA_SENTINEL_PORT" "$@"
    return
  done
  return 1
}

# ---------------------------------------------------------------- machine gateways

# ha_gateway_up I: the gateway of machine I, in its namespace.
ha_gateway_up() {
  local name="$NET-m$1" dir pid i
  dir="$(machine_dir "$name")"
  pid_alive "$dir/gateway.pid" deno && return 0
  setsid -f ip netns exec "$name" "$root/scripts/run-service" gateway \
    --config "$DN_CONFIG_DIR/gateway-$name.json" >>"$dir/gateway.log" 2>&1 </dev/null 8>&-
  for i in $(seq 1 100); do
    for pid in $(ip netns pids "$name"); do
      grep -qa gateway/main.ts "/proc/$pid/cmdline" 2>/dev/null || continue
      echo "$pid" >"$dir/gateway.pid"
      log "$name: gateway started (log $dir/gateway.log)"
      return 0
    done
    sleep 0.1
  done
  die "$name: gateway did not start (see $dir/gateway.log)"
}

# ---------------------------------------------------------------- commands

# ha_up N: the set on machines 1-3 (all N machines exist), their firewall
# and configs; waits until the cluster is whole.
ha_up() {
  local n="$1" k
  [ "$n" -ge "$HA_MACHINES" ] || die "--ha needs at least $HA_MACHINES machines"
  ha_ensure_packages
  [ -s "$STATE/rabbitmq/definitions.json" ] || die "no $STATE/rabbitmq/definitions.json: scripts/infra up"
  for k in $(seq 1 "$n"); do ha_firewall "$k"; done
  for k in $(seq 1 "$HA_MACHINES"); do
    ha_tls "$k"
    ha_rabbit_up "$k"
    ha_redis_up "$k"
  done
  for k in $(seq 1 "$HA_MACHINES"); do
    wait_for 30 "redis on $NET-m$k" ha_ping "$(machine_addr "$k")" "$HA_REDIS_PORT"
    ha_sentinel_up "$k"
  done
  wait_for 120 "rabbitmq on $NET-m1 (see $(ha_rabbit_dir 1)/log/)" ha_rabbit_running 1
  for k in $(seq 2 "$HA_MACHINES"); do ha_rabbit_join "$k"; done
  ha_service_configs
  for k in $(seq 1 "$n"); do ha_host_config "$k" >/dev/null; done
  wait_for 90 "$HA_MACHINES RabbitMQ nodes and $((HA_MACHINES - 1)) Redis replicas" ha_status
}

# ha_status: cluster members running, the primary and its replicas (those
# Sentinel sees up and the primary has in sync); exits 1 unless whole.
ha_status() {
  local k running=0 master replicas online
  for k in $(seq 1 "$HA_MACHINES"); do
    ha_rabbit_running "$k" || continue
    # What the node itself knows (cluster_status asks every member, and waits
    # for one whose machine died).
    running="$(ha_ctl "$k" -q eval 'length(rabbit_mnesia:cluster_nodes(running)).' 2>/dev/null || echo 0)"
    break
  done
  master="$(ha_sentinel_ask sentinel get-master-addr-by-name "$HA_MASTER_NAME" 2>/dev/null | paste -sd: || true)"
  replicas="$(ha_sentinel_ask sentinel replicas "$HA_MASTER_NAME" 2>/dev/null |
    awk 'prev == "flags" && $0 == "slave" { n++ } { prev = $0 } END { print n + 0 }' || true)"
  if [ -n "$master" ]; then
    online="$(ha_cli 2 "${master%:*}" "${master##*:}" info replication 2>/dev/null |
      grep -c '^slave[0-9]*:.*state=online' || true)"
    [ "${online:-0}" -lt "${replicas:-0}" ] && replicas="${online:-0}"
  fi
  echo "rabbitmq: ${running:-0} of $HA_MACHINES nodes running"
  echo "redis: primary ${master:-unknown}, ${replicas:-0} replicas"
  [ "${running:-0}" = "$HA_MACHINES" ] && [ "${replicas:-0}" = $((HA_MACHINES - 1)) ]
}

# ha_kill NAME PART: SIGKILLs one part (rabbitmq, redis, sentinel, gateway) of machine NAME.
ha_kill() {
  local dir file comm
  dir="$(machine_dir "$1")"
  case "$2" in
  rabbitmq) file="$dir/rabbitmq/rabbitmq.pid" comm=beam.smp ;;
  redis) file="$dir/redis/redis.pid" comm=redis-server ;;
  sentinel) file="$dir/sentinel/sentinel.pid" comm=redis-sentinel ;;
  gateway) file="$dir/gateway.pid" comm=deno ;;
  *) die "usage: scripts/machines kill-part NAME rabbitmq|redis|sentinel|gateway" ;;
  esac
  pid_alive "$file" "$comm" || die "$1: no $2 running"
  kill -9 "$(tr -dc 0-9 <"$file")"
  echo "$1: $2 killed"
}
