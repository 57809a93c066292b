"""What every producer and consumer stands on: settings, logging, Kafka clients and topics, the ledger."""
