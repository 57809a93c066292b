#!/bin/sh
# docker-compose.yml's command for each Kafka node: writes the node's settings (the shared server.properties, then
# its id and advertised addresses: a later line wins), formats the data volume once, writing the SCRAM users into
# the metadata log with the cluster itself (no moment without them), then runs the node. Passwords come from the
# environment; server.properties reads them through Kafka's env config provider.
set -eu
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}"
: "${KAFKA_NODE_ID:?set KAFKA_NODE_ID}"
: "${KAFKA_ADVERTISED_LISTENERS:?set KAFKA_ADVERTISED_LISTENERS}"
: "${KAFKA_BROKER_PASSWORD:?set KAFKA_BROKER_PASSWORD (see docs/operations.md)}"
: "${KAFKA_CLIENT_PASSWORD:?set KAFKA_CLIENT_PASSWORD (see docs/operations.md)}"
: "${KAFKA_TLS_PASSWORD:?set KAFKA_TLS_PASSWORD (see docs/operations.md)}"
home=${KAFKA_HOME:-/opt/kafka}
shared=${KAFKA_CONFIG:-/opt/breachwire/server.properties}
config=${KAFKA_NODE_CONFIG:-/tmp/server.properties}
{
  cat "$shared"
  printf '\n# this node (start.sh)\nnode.id=%s\nadvertised.listeners=%s\n' \
    "$KAFKA_NODE_ID" "$KAFKA_ADVERTISED_LISTENERS"
} > "$config"

# --ignore-formatted: a formatted volume keeps its users; change their passwords with kafka-configs.sh
"$home/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$config" \
  --add-scram "SCRAM-SHA-512=[name=broker,password=$KAFKA_BROKER_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name=breachwire,password=$KAFKA_CLIENT_PASSWORD]"
exec "$home/bin/kafka-server-start.sh" "$config"
