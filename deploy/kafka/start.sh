#!/bin/sh
# docker-compose.yml's kafka command: formats the data volume once, writing the SCRAM users into the metadata log
# with the cluster itself (no moment without them), then runs the broker. Passwords come from the environment;
# server.properties reads them through Kafka's env config provider.
set -eu
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}"
: "${KAFKA_BROKER_PASSWORD:?set KAFKA_BROKER_PASSWORD (see docs/operations.md)}"
: "${KAFKA_CLIENT_PASSWORD:?set KAFKA_CLIENT_PASSWORD (see docs/operations.md)}"
: "${KAFKA_TLS_PASSWORD:?set KAFKA_TLS_PASSWORD (see docs/operations.md)}"
home=${KAFKA_HOME:-/opt/kafka}
config=${KAFKA_CONFIG:-/opt/breachwire/server.properties}

# --ignore-formatted: a formatted volume keeps its users; change their passwords with kafka-configs.sh
"$home/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$config" \
  --add-scram "SCRAM-SHA-512=[name=broker,password=$KAFKA_BROKER_PASSWORD]" \
  --add-scram "SCRAM-SHA-512=[name=breachwire,password=$KAFKA_CLIENT_PASSWORD]"
exec "$home/bin/kafka-server-start.sh" "$config"
