// Package replicatest holds the tests of several receiver replicas sharing one PostgreSQL
// database: a burst of webhook notifications with duplicates spread across replicas, a replica
// killed mid-burst, and a database outage. The package has no code of its own; see its tests.
package replicatest
