#!/bin/sh
# docker-compose.yml's kafka-tls step: makes, once, the CA and the certificate the broker serves TLS with.
# The key stores (and the CA's key) stay in the broker's private volume; only the CA's certificate, ca.pem, goes
# to the volume the services mount to check the broker against. The stores' password comes from the environment
# and never reaches a command line.
set -eu
: "${KAFKA_TLS_PASSWORD:?set KAFKA_TLS_PASSWORD (see docs/operations.md)}"
secrets=${TLS_DIR:-/etc/kafka/secrets}
public=${CA_DIR:-/etc/breachwire/kafka}
names=${TLS_NAMES:-dns:kafka,dns:localhost}
owner=${TLS_OWNER:-appuser}

if [ -s "$secrets/broker.p12" ] && [ -s "$secrets/truststore.p12" ] && [ -s "$public/ca.pem" ]; then
  echo "kafka-tls: the CA and the broker certificate exist; nothing to do"
  exit 0
fi

keytool() {
  # short-lived JVMs start faster without the optimising compiler
  command keytool -J-XX:TieredStopAtLevel=1 "$@" -storetype PKCS12 -storepass:env KAFKA_TLS_PASSWORD
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key="-keyalg EC -groupname secp256r1"
# shellcheck disable=SC2086 # $key is three words on purpose
keytool -genkeypair -keystore "$work/ca.p12" -alias ca $key -validity 3650 \
  -dname "CN=breachwire Kafka CA" -ext bc:c -ext KU:c=keyCertSign,cRLSign
keytool -exportcert -keystore "$work/ca.p12" -alias ca -rfc -file "$work/ca.pem"
# shellcheck disable=SC2086
keytool -genkeypair -keystore "$work/broker.p12" -alias broker $key -validity 825 -dname "CN=kafka"
keytool -certreq -keystore "$work/broker.p12" -alias broker -file "$work/broker.csr"
keytool -gencert -keystore "$work/ca.p12" -alias ca -infile "$work/broker.csr" -outfile "$work/broker.pem" -rfc \
  -validity 825 -ext "SAN=$names" -ext KU:c=digitalSignature -ext EKU=serverAuth,clientAuth
keytool -importcert -keystore "$work/broker.p12" -alias ca -file "$work/ca.pem" -noprompt
keytool -importcert -keystore "$work/broker.p12" -alias broker -file "$work/broker.pem"
keytool -importcert -keystore "$work/truststore.p12" -alias ca -file "$work/ca.pem" -noprompt

mkdir -p "$secrets" "$public"
cp "$work/ca.p12" "$work/broker.p12" "$work/truststore.p12" "$secrets/"
cp "$work/ca.pem" "$public/ca.pem"
chmod 600 "$secrets/ca.p12" "$secrets/broker.p12" "$secrets/truststore.p12"
chmod 644 "$public/ca.pem"
# the broker runs as the image's unprivileged user; this step runs as root to write both volumes
if [ "$(id -u)" = 0 ]; then chown "$owner" "$secrets/ca.p12" "$secrets/broker.p12" "$secrets/truststore.p12"; fi
echo "kafka-tls: made a CA and a broker certificate for $names"
