# shellcheck shell=bash
# Sourced by scripts/machines.d/ha.sh: the config files of the services on
# the machines' cluster.

# ha_amqp_urls ROLE VHOST FIRST: the cluster's AMQPS URLs for ROLE, node FIRST's first.
ha_amqp_urls() {
  local role="$1" vhost="$2" first="$3" out="" k i
  for i in $(seq 0 $((HA_MACHINES - 1))); do
    k=$(((first - 1 + i) % HA_MACHINES + 1))
    out+="${out:+,}amqps://dn-$role:$(secret "dn-$role")@$(machine_addr "$k"):$HA_AMQPS_PORT/$vhost"
  done
  echo "$out"
}

ha_sentinels() {
  local addr out=""
  for addr in $(ha_addrs); do out+="${out:+,}$addr:$HA_SENTINEL_PORT"; done
  echo "$out"
}

# ha_edit FILE JQ ARGS...: FILE through jq (mode 600).
ha_edit() {
  local file="$1"
  shift
  (umask 077 && jq "$@" "$file" >"$file.tmp")
  mv -f "$file.tmp" "$file"
}

# ha_cluster_args ROLE FIRST: HA_ARGS and HA_SET, jq arguments setting the broker, Redis and
# Sentinel keys of ROLE's config, node FIRST first.
ha_cluster_args() {
  local vhost=dn db=0
  [ -z "$TEST" ] || { vhost=dn-test db=1; }
  HA_ARGS=(--arg amqp "$(ha_amqp_urls "$1" "$vhost" "$2")" --arg ca "$DN_TLS_DIR/ca.pem"
    --arg redis "rediss://:$(secret redis)@$(machine_addr 1):$HA_REDIS_PORT/$db"
    --arg sentinels "$(ha_sentinels)")
  HA_SET='.amqpUrl = $amqp | .amqpCaFile = $ca | .redisUrl = $redis | .redisCaFile = $ca'
  HA_SET+=' | .redisSentinels = $sentinels'
}

# ha_host_config I: machine I's host config (host_config's) on the cluster.
ha_host_config() {
  local file
  file="$(host_config "$1")"
  ha_cluster_args host $((($1 - 1) % HA_MACHINES + 1))
  ha_edit "$file" "${HA_ARGS[@]}" --arg gateways "$EDGE,$HA_GATEWAYS" \
    "$HA_SET | .gatewayAddresses = \$gateways"
}

# ha_service_configs: control and gateway on the edge, the machine gateways.
ha_service_configs() {
  local prefix="" file k addr role
  [ -z "$TEST" ] || prefix=test-
  for role in control gateway; do
    file="$DN_CONFIG_DIR/$prefix$role-$NET.json"
    cp "$DN_CONFIG_DIR/$prefix$role.json" "$file"
    ha_cluster_args "$role" 1
    ha_edit "$file" "${HA_ARGS[@]}" "$HA_SET"
  done
  ha_edit "$DN_CONFIG_DIR/${prefix}control-$NET.json" '.redisWaitReplicas = 1'
  for k in $(seq 1 "$HA_GATEWAY_MACHINES"); do
    addr="$(machine_addr "$k")"
    file="$DN_CONFIG_DIR/${prefix}gateway-$NET-m$k.json"
    cp "$DN_CONFIG_DIR/${prefix}gateway.json" "$file"
    ha_cluster_args gateway "$k"
    ha_edit "$file" "${HA_ARGS[@]}" --arg listen "$addr:$HA_GATEWAY_PORT" \
      --arg metrics "$addr:$HA_GATEWAY_METRICS_PORT" \
      "$HA_SET | .gatewayListen = \$listen | .gatewayMetricsListen = \$metrics | del(.gatewayHttpsListen)"
  done
}

