// Package config holds samsa's configuration: Kafka's own broker and topic
// config keys, their types, defaults and validators (generated from Kafka
// itself into kafka_keys.go), the parsing and validation of a node's static
// config (a Java properties file plus -c key=value overrides), and the
// DescribeConfigs / topic-config resolution rules Kafka applies on top of
// the dynamic configs held in cluster metadata.
//
// # Layers
//
// A node's static config is built from three layers, later ones winning:
//
//  1. the zero-config profile (below),
//  2. the properties file given with --config,
//  3. the -c key=value flags, in order.
//
// Keys that are not set in any layer take Kafka's defaults. At run time the
// controller's metadata adds two dynamic layers, a per-broker one and a
// cluster-wide default one; the effective value of a key is, as in Kafka's
// DynamicBrokerConfig, per-broker dynamic > cluster-wide dynamic > static >
// default, and a topic's own overrides beat all of them.
//
// # The zero-config profile
//
// samsa starts without any file. The base layer under every file and -c flag
// is what Kafka's own single-node KRaft example (config/server.properties of
// the Kafka 4 distribution, formerly config/kraft/server.properties) sets,
// bound to the loopback interface:
//
//	node.id=1
//	process.roles=broker,controller
//	listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
//	advertised.listeners=PLAINTEXT://127.0.0.1:9092
//	controller.listener.names=CONTROLLER
//	inter.broker.listener.name=PLAINTEXT
//	controller.quorum.voters=1@127.0.0.1:9093
//	listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
//	log.dirs=/tmp/samsa-logs
//	num.partitions=1
//	offsets.topic.replication.factor=1
//	transaction.state.log.replication.factor=1
//	transaction.state.log.min.isr=1
//	share.coordinator.state.topic.replication.factor=1
//	share.coordinator.state.topic.min.isr=1
//
// Three profile keys give way when a file or flag sets a key Kafka ranks
// against them: log.dir displaces the profile's log.dirs,
// security.inter.broker.protocol its inter.broker.listener.name, and
// listeners its advertised.listeners (which then defaults to listeners).
//
// These count as static settings (DescribeConfigs reports them with source
// STATIC_BROKER_CONFIG), exactly as if they had been written in the file.
//
// # samsa's own keys
//
// Besides Kafka's keys samsa accepts keys under "samsa.":
//
//	samsa.metrics.listener  host:port of the Prometheus HTTP endpoint (default 127.0.0.1:0, port 0 = any free port)
//	samsa.log.level         debug, info, warn or error (default info)
//
// Any other key is an error that names it.
package config
